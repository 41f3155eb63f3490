/**
 * Writes not yet in the store, after wendelin.core's dirty pages: a head file's first
 * write to a block copies the block into a private page (the clean block may belong
 * to a revision too); later writes change that page.
 *
 * Writeout stores dirty pages file by file in block order, in one transaction of the
 * store's (HeadApi.writeBlocks). Pages stay dirty until it commits: if it fails (disk
 * full), nothing is lost and a later writeout tries again. A page equal to its stored
 * block is not written (blocks are content-addressed, and the head keeps an unchanged
 * hash). Written pages become clean blocks.
 *
 * An fsync of a few small writes logs them instead (HeadApi.logWrites: the byte ranges
 * written since the file's last log or writeout, appended to the store's write log and
 * synced); the pages stay dirty. A writeout of any logged file writes out every logged
 * file, which folds the log; so does the mount's timer.
 */
import {
  type BlockHash,
  type FileInode,
  hashKey,
  type Ino,
  type LoggedWrite,
  RevfsError,
  type VersionedStore,
} from "../mod.ts";
import type { BufferPool } from "./buffer_pool.ts";

/** An fsync logs at most this many bytes of writes; more, and it writes the blocks out. */
const LOG_MAX_BYTES = 1 << 20;
/** The log is folded once this much has been logged since its last fold. */
const LOG_FOLD_BYTES = 32 << 20;
/**
 * Dirty bytes past which a write writes out everything first (or `maxBytes`, if less).
 * LMDB copies every record a transaction writes into memory of its own until the
 * commit, so a writeout briefly holds its pages twice: writing out at 128 MiB (half the
 * default cache), writing 1 GiB took the mount's anonymous memory to 425 MiB, at 32 MiB
 * to 345, in the same time (5.2-5.7 s by hand; 16 MiB: 330 MiB, no faster).
 */
const WRITEOUT_BYTES = 32 << 20;

/** A file's writes not yet in the store: its size, mtime, ctime and dirty blocks. */
export interface DirtyFile {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  pages: Map<number, Uint8Array>;
  /** Per dirty block, the byte ranges (in the block) written since the file's last log. */
  unlogged: Map<number, Ranges>;
}

/** Sorted, disjoint [from, to) byte ranges. */
type Ranges = [from: number, to: number][];

/** A block's ranges are kept apart up to this many; past it, one range spans them. */
const MAX_RANGES = 16;

/** `ranges` with [from, to) added: overlapping and touching ranges merge. */
function addRange(ranges: Ranges, from: number, to: number): Ranges {
  const out: Ranges = [];
  for (const r of ranges) {
    if (r[1] < from || r[0] > to) out.push(r);
    else [from, to] = [Math.min(from, r[0]), Math.max(to, r[1])];
  }
  out.push([from, to]);
  out.sort((a, b) => a[0] - b[0]);
  return out.length > MAX_RANGES ? [[out[0][0], out[out.length - 1][1]]] : out;
}

export class DirtyPages {
  private readonly files = new Map<Ino, DirtyFile>();
  /** Memory the pages hold. */
  bytes = 0;
  writeouts = 0;
  blocksWrittenOut = 0;
  /** Fsyncs answered by the write log, and the bytes they logged. */
  logs = 0;
  loggedBytes = 0;
  /** Files with writes in the store's write log (all of them have dirty pages). */
  private readonly logged = new Set<Ino>();
  private bytesSinceFold = 0;
  /** Dirty bytes past which a write writes out first: raised after a writeout failed for a full disk. */
  private writeOutAt: number;

  constructor(
    private readonly store: VersionedStore,
    private readonly pool: BufferPool,
    /** Adds a written-out page to the clean blocks. */
    private readonly keep: (key: string, data: Uint8Array) => void,
    /** Dirty bytes past which a write that cannot be written out fails. */
    private readonly maxBytes: number,
    /** Bytes a writeout just committed. */
    private readonly wroteOut: (bytes: number) => void = () => {},
  ) {
    this.writeOutAt = Math.min(maxBytes, WRITEOUT_BYTES);
  }

  /** Whether a write must write everything out first (WRITEOUT_BYTES). */
  get mustWriteOut(): boolean {
    return this.bytes > this.writeOutAt;
  }

  /**
   * The writeout a write made first failed with `e`. With a full disk the write still
   * goes into memory until `maxBytes` are dirty, and the next try waits for another
   * WRITEOUT_BYTES (or the timer); past that, or for any other failure, `e` is thrown.
   */
  writeOutFailed(e: unknown): void {
    if (!(e instanceof RevfsError && e.code === "NO_SPACE") || this.bytes > this.maxBytes) throw e;
    this.writeOutAt = Math.min(this.maxBytes, this.bytes + WRITEOUT_BYTES);
  }

  get(ino: Ino): DirtyFile | undefined {
    return this.files.get(ino);
  }

  get fileCount(): number {
    return this.files.size;
  }

  get pageCount(): number {
    let n = 0;
    for (const d of this.files.values()) n += d.pages.size;
    return n;
  }

  /**
   * Copies `data` into the file's pages. `inode` gives the stored file (read only when
   * a block must be copied or the file is new here); `stored` a stored block's bytes.
   */
  write(
    ino: Ino,
    offset: number,
    data: Uint8Array,
    inode: () => FileInode,
    stored: (f: FileInode, idx: number) => Uint8Array | null,
  ): void {
    const bs = this.pool.blockSize;
    let d = this.files.get(ino);
    if (!d) {
      const i = inode();
      d = { size: i.size, mtimeNs: i.mtimeNs, ctimeNs: i.ctimeNs, pages: new Map(), unlogged: new Map() };
      this.files.set(ino, d);
    }
    const end = offset + data.length;
    for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
      const blockStart = idx * bs;
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockStart + bs);
      let page = d.pages.get(idx);
      if (!page) {
        // Copy before the first write, unless the write covers all the block holds.
        const covered = from === blockStart && to >= Math.min(blockStart + bs, d.size);
        const old = covered ? null : stored(inode(), idx);
        page = this.pool.newPage(Math.max(to - blockStart, old?.length ?? 0));
        if (old) page.set(old);
        d.pages.set(idx, page);
        this.bytes += page.length;
      } else if (page.length < to - blockStart) {
        const grown = this.pool.newPage(to - blockStart);
        grown.set(page);
        this.bytes += grown.length - page.length;
        this.pool.retire(page);
        d.pages.set(idx, page = grown);
      }
      page.set(data.subarray(from - offset, to - offset), from - blockStart);
      d.unlogged.set(idx, addRange(d.unlogged.get(idx) ?? [], from - blockStart, to - blockStart));
    }
    d.size = Math.max(d.size, end);
    d.mtimeNs = d.ctimeNs = BigInt(Date.now()) * 1_000_000n;
  }

  /**
   * Sets the times of a file with unwritten changes: the kernel's writeback of times,
   * its ctime too when it sends one (then `stat` after a remount shows what it showed).
   */
  setTimes(ino: Ino, t: { mtimeNs?: bigint; ctimeNs?: bigint }): boolean {
    const d = this.files.get(ino);
    if (!d) return false;
    if (t.mtimeNs !== undefined) d.mtimeNs = t.mtimeNs;
    if (t.ctimeNs !== undefined) d.ctimeNs = t.ctimeNs;
    return true;
  }

  /** Whether the file has writes in the store's write log (it must be written out before a resize). */
  isLogged(ino: Ino): boolean {
    return this.logged.has(ino);
  }

  /** Files with writes in the store's write log. */
  get loggedCount(): number {
    return this.logged.size;
  }

  /**
   * Makes the file's writes, and the store's uncommitted namespace changes, durable
   * through the store's write log; false when there is too much to log (the caller
   * writes it out instead). Its pages stay dirty.
   */
  log(ino: Ino): boolean {
    const d = this.files.get(ino);
    const bs = this.pool.blockSize;
    const ranges: LoggedWrite["ranges"] = [];
    let bytes = 0;
    for (const [idx, inBlock] of [...d?.unlogged ?? []].sort((a, b) => a[0] - b[0])) {
      for (const [from, to] of inBlock) {
        ranges.push([idx * bs + from, d!.pages.get(idx)!.subarray(from, to)]);
        bytes += to - from;
      }
    }
    if (bytes > LOG_MAX_BYTES) return false;
    try {
      this.store.head.logWrites(d && bytes > 0 ? [{ ino, size: d.size, mtimeNs: d.mtimeNs, ranges }] : []);
    } catch (e) {
      // The log could not grow (a full disk): the store may still have free pages.
      if (e instanceof RevfsError && e.code === "NO_SPACE") return false;
      throw e;
    }
    if (!d || bytes === 0) return true;
    d.unlogged.clear();
    this.logged.add(ino);
    this.logs++;
    this.loggedBytes += bytes;
    this.bytesSinceFold += bytes;
    if (this.bytesSinceFold > LOG_FOLD_BYTES) this.writeOut([]);
    return true;
  }

  /** Forgets a file that no longer exists in the head (its writes have nowhere to go). */
  drop(ino: Ino): void {
    this.logged.delete(ino);
    for (const page of this.take(ino)?.pages.values() ?? []) this.pool.retire(page);
  }

  /** Takes a file's unwritten changes out; its pages are the caller's. */
  private take(ino: Ino): DirtyFile | undefined {
    const d = this.files.get(ino);
    if (!d) return undefined;
    for (const page of d.pages.values()) this.bytes -= page.length;
    this.files.delete(ino);
    return d;
  }

  /** Every file with dirty pages, in inode order. */
  inos(): Ino[] {
    return [...this.files.keys()].sort((a, b) => a - b);
  }

  /**
   * Writes out the files' pages in one transaction; then they are clean blocks. Every
   * logged file is written out with them: a writeout folds the whole log.
   */
  writeOut(inos: Ino[]): void {
    this.stageWriteOut(inos)?.();
  }

  /**
   * `writeOut`'s store half: the files' pages stored, in the caller's transaction when
   * there is one (not a logged file's: the log folds in a commit of its own). Returns
   * what makes them clean blocks, to call once that transaction has committed; until
   * then they stay dirty, so a transaction that fails loses nothing.
   */
  stageWriteOut(inos: Ino[]): (() => void) | undefined {
    if (this.logged.size > 0) inos = [...new Set([...inos, ...this.logged])].sort((a, b) => a - b);
    const work = inos.flatMap((ino) => {
      const d = this.files.get(ino);
      return d ? [{ ino, d, pages: [...d.pages].sort((a, b) => a[0] - b[0]) }] : [];
    });
    if (work.length === 0) return undefined;
    const hashes = this.store.head.writeBlocks(
      work.map(({ ino, d, pages }) => ({ ino, size: d.size, mtimeNs: d.mtimeNs, ctimeNs: d.ctimeNs, blocks: pages })),
    );
    return () => this.wroteOutAll(work, hashes);
  }

  private wroteOutAll(
    work: { ino: Ino; d: DirtyFile; pages: [number, Uint8Array][] }[],
    hashes: ([number, BlockHash | null][] | undefined)[],
  ): void {
    this.writeouts++;
    this.wroteOut(work.reduce((n, w) => n + w.pages.reduce((m, [, p]) => m + p.length, 0), 0));
    this.writeOutAt = Math.min(this.maxBytes, WRITEOUT_BYTES);
    for (const w of work) this.logged.delete(w.ino);
    if (this.logged.size === 0) this.bytesSinceFold = 0;
    work.forEach((w, n) => this.written(w.ino, w.d, w.pages, hashes[n]));
  }

  /** After a file's writeout committed: its pages become clean blocks (or a gone file's are dropped). */
  private written(
    ino: Ino,
    d: DirtyFile,
    pages: [number, Uint8Array][],
    hashes: [number, BlockHash | null][] | undefined,
  ): void {
    if (hashes === undefined) return this.drop(ino);
    const bs = this.pool.blockSize;
    this.blocksWrittenOut += pages.length;
    this.take(ino);
    // A small file's page is mostly past its end: keep only its bytes, not a whole block per file.
    for (let n = 0; n < pages.length; n++) {
      const h = hashes[n][1];
      const [idx, page] = pages[n];
      const inFile = d.size - idx * bs;
      if (h !== null && inFile > bs / 2) {
        this.keep(hashKey(h), page);
        continue;
      }
      // An all-zero page stored nothing; a stored block (h) has bytes, so inFile > 0.
      if (h !== null) this.keep(hashKey(h), page.slice(0, inFile));
      this.pool.retire(page);
    }
  }
}
