/**
 * The mount's block page cache, after wendelin.core's file pages:
 *
 * - Clean blocks are kept by content hash, so the head and `.snapshots` share them;
 *   they are never changed in place and are evicted least-recently-used first.
 * - A head file's first write to a block copies it into a private dirty page (the
 *   clean block may belong to a revision too); later writes change that page.
 * - Writeout stores dirty pages file by file in block order, in one transaction: on
 *   fsync (that file), when dirty bytes pass half the budget, on the mount's timer,
 *   before every snapshot and at unmount. A page equal to its stored block is not
 *   written (blocks are content-addressed, and the head keeps an unchanged hash).
 *
 * Clean plus dirty bytes stay within the budget, except that dirty pages are only
 * ever freed by writeout.
 */
import {
  type BlockHash,
  type FileEntry,
  gather,
  hashKey,
  type Ino,
  type Inode,
  rangeSegments,
  RevfsError,
  type Store,
  zeroBlock,
} from "../mod.ts";

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/** Writes not yet in the store: a file's size, mtime and dirty blocks. */
interface DirtyFile {
  size: number;
  mtimeNs: bigint;
  pages: Map<number, Uint8Array>;
}

export interface PageCacheStats {
  budgetBytes: number;
  cachedBytes: number;
  dirtyBytes: number;
  cachedBlocks: number;
  dirtyBlocks: number;
  dirtyFiles: number;
  hits: number;
  misses: number;
  /** Writeouts done and blocks they handed to the store (unchanged ones included). */
  writeouts: number;
  blocksWrittenOut: number;
}

export class PageCache {
  private readonly clean = new Map<string, Uint8Array>();
  private cleanBytes = 0;
  private readonly dirty = new Map<Ino, DirtyFile>();
  private dirtyBytes = 0;
  private hits = 0;
  private misses = 0;
  private writeouts = 0;
  private blocksWrittenOut = 0;
  private readonly blockSize: number;

  /** Holes and zero tails in reads; shared, never written. */
  private readonly zeros: Uint8Array;

  constructor(private readonly store: Store, readonly budgetBytes = DEFAULT_CACHE_BYTES) {
    this.blockSize = store.blockSize;
    this.zeros = zeroBlock(this.blockSize);
    if (budgetBytes < 4 * this.blockSize) {
      throw new RevfsError("INVALID", `cache budget must be at least ${4 * this.blockSize} bytes`);
    }
  }

  // --- clean blocks -------------------------------------------------------

  /** A stored block's bytes, from the cache or loaded into it. The caller must not change them. */
  private block(h: BlockHash): Uint8Array {
    const k = hashKey(h);
    const hit = this.clean.get(k);
    if (hit) {
      this.hits++;
      // Re-insert: Map order is the LRU order.
      this.clean.delete(k);
      this.clean.set(k, hit);
      return hit;
    }
    this.misses++;
    const data = this.store.blocks.get(h);
    this.addClean(k, data);
    return data;
  }

  private addClean(k: string, data: Uint8Array): void {
    const old = this.clean.get(k);
    if (old) {
      this.clean.delete(k);
      this.cleanBytes -= old.byteLength;
    }
    this.clean.set(k, data);
    this.cleanBytes += data.byteLength;
    this.evict();
  }

  private evict(): void {
    for (const [k, v] of this.clean) {
      if (this.cleanBytes + this.dirtyBytes <= this.budgetBytes) break;
      this.clean.delete(k);
      this.cleanBytes -= v.byteLength;
    }
  }

  // --- reads --------------------------------------------------------------

  /**
   * Bytes of a revision's file, as views of cached blocks (see rangeSegments): valid
   * until the next call into the cache, which is long enough to hand them to the kernel.
   */
  entrySegments(e: FileEntry, offset: number, length: number): Uint8Array[] {
    return rangeSegments(e.size, offset, length, this.blockSize, (idx) => {
      const h = this.store.entryBlock(e, idx);
      return h === null ? null : this.block(h);
    }, this.zeros);
  }

  /** Bytes of a head file as the mount's writes left it, as views (see entrySegments). */
  headSegments(ino: Ino, offset: number, length: number): Uint8Array[] {
    const f = this.fileInode(ino);
    const d = this.dirty.get(ino);
    return rangeSegments(d?.size ?? f.size, offset, length, this.blockSize, (idx) => {
      return d?.pages.get(idx) ?? this.headBlock(f, idx);
    }, this.zeros);
  }

  /** entrySegments copied into one buffer. */
  readEntry(e: FileEntry, offset: number, length: number): Uint8Array {
    return gather(this.entrySegments(e, offset, length));
  }

  /** headSegments copied into one buffer. */
  readHead(ino: Ino, offset: number, length: number): Uint8Array {
    return gather(this.headSegments(ino, offset, length));
  }

  private headBlock(f: Inode & { type: "file" }, idx: number): Uint8Array | null {
    const h = this.store.head.blockHash(f, idx);
    return h === null ? null : this.block(h);
  }

  private fileInode(ino: Ino): Inode & { type: "file" } {
    const i = this.store.head.inode(ino);
    if (!i) throw new RevfsError("NO_SUCH_PATH", `inode ${ino} does not exist`);
    if (i.type !== "file") throw new RevfsError("IS_A_DIR", `${i.name} is not a file`);
    return i;
  }

  // --- writes -------------------------------------------------------------

  /** Size and mtime of a head file with unwritten changes; undefined when it has none. */
  pending(ino: Ino): { size: number; mtimeNs: bigint } | undefined {
    const d = this.dirty.get(ino);
    return d && { size: d.size, mtimeNs: d.mtimeNs };
  }

  /** Sets the mtime of a file with unwritten changes (the kernel's writeback of times). */
  setPendingMtime(ino: Ino, mtimeNs: bigint): boolean {
    const d = this.dirty.get(ino);
    if (d) d.mtimeNs = mtimeNs;
    return d !== undefined;
  }

  write(ino: Ino, offset: number, data: Uint8Array): void {
    // Over budget: write out first, so a failed writeout (disk full) fails this write
    // before it changes anything.
    if (this.dirtyBytes > this.budgetBytes / 2) this.writeOutAll();
    const bs = this.blockSize;
    // The stored inode is read only when a block must be copied or the file is new here.
    let stored: (Inode & { type: "file" }) | undefined;
    const inode = () => stored ??= this.fileInode(ino);
    let d = this.dirty.get(ino);
    if (!d) {
      d = { size: inode().size, mtimeNs: inode().mtimeNs, pages: new Map() };
      this.dirty.set(ino, d);
    }
    const end = offset + data.length;
    for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
      const blockStart = idx * bs;
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockStart + bs);
      let page = d.pages.get(idx);
      if (!page) {
        page = new Uint8Array(bs);
        // Copy before the first write, unless the write covers all the block holds.
        const covered = from === blockStart && to >= Math.min(blockStart + bs, d.size);
        if (!covered) {
          const old = this.headBlock(inode(), idx);
          if (old) page.set(old.subarray(0, bs));
        }
        d.pages.set(idx, page);
        this.dirtyBytes += bs;
      }
      page.set(data.subarray(from - offset, to - offset), from - blockStart);
    }
    d.size = Math.max(d.size, end);
    d.mtimeNs = BigInt(Date.now()) * 1_000_000n;
    this.evict();
  }

  /** Forgets a file that no longer exists in the head (its writes have nowhere to go). */
  drop(ino: Ino): void {
    const d = this.dirty.get(ino);
    if (!d) return;
    this.dirtyBytes -= d.pages.size * this.blockSize;
    this.dirty.delete(ino);
  }

  /** Writes out one file's dirty pages, in block order. */
  writeOut(ino: Ino): void {
    if (this.dirty.has(ino)) this.writeOutFiles([ino]);
  }

  /** Writes out every dirty page: files in inode order, blocks in block order, one transaction. */
  writeOutAll(): void {
    if (this.dirty.size === 0) return;
    this.writeOutFiles([...this.dirty.keys()].sort((a, b) => a - b));
    this.evict();
  }

  /**
   * One transaction for the files' pages. Pages stay dirty until it commits: if it
   * fails (disk full), nothing is lost and a later writeout tries again.
   */
  private writeOutFiles(inos: Ino[]): void {
    const done = this.store.transaction(() => inos.map((ino) => this.writeOutFile(ino)));
    this.writeouts++;
    for (const after of done) after();
  }

  /** Stores one file's pages; returns what to do once that is committed. */
  private writeOutFile(ino: Ino): () => void {
    const d = this.dirty.get(ino)!;
    const i = this.store.head.inode(ino);
    if (i?.type !== "file") return () => this.drop(ino);
    const pages = [...d.pages].sort((a, b) => a[0] - b[0]);
    const hashes = this.store.head.writeBlocks(ino, d.size, d.mtimeNs, pages);
    return () => {
      this.blocksWrittenOut += pages.length;
      this.drop(ino);
      // Written pages are stored blocks now: keep them as clean blocks.
      for (let n = 0; n < pages.length; n++) {
        const h = hashes[n][1];
        if (h !== null) this.addClean(hashKey(h), pages[n][1]);
      }
    };
  }

  stats(): PageCacheStats {
    let dirtyBlocks = 0;
    for (const d of this.dirty.values()) dirtyBlocks += d.pages.size;
    return {
      budgetBytes: this.budgetBytes,
      cachedBytes: this.cleanBytes,
      dirtyBytes: this.dirtyBytes,
      cachedBlocks: this.clean.size,
      dirtyBlocks,
      dirtyFiles: this.dirty.size,
      hits: this.hits,
      misses: this.misses,
      writeouts: this.writeouts,
      blocksWrittenOut: this.blocksWrittenOut,
    };
  }
}
