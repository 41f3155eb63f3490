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
 * - Reads of revisions load what they miss on the block loader's threads
 *   (fs/block_loader.ts): a revision's block may sit at the end of a delta chain, and
 *   that decode holds up only the reads that need the block. Two reads of one block
 *   share one load. A revision's file read in order has the blocks after it loaded
 *   ahead of it. The head's blocks are stored whole, so a read of the head loads on
 *   this thread (a thread round trip costs more than the load), unless the block is
 *   loading already.
 *
 * Clean plus dirty bytes stay within the budget, except that dirty pages are only
 * ever freed by writeout.
 *
 * Block buffers are reused: a block-sized buffer the cache lets go (an evicted block, a
 * written-out page) is loaded into again instead of being left to V8's garbage collector,
 * which frees it late (memory over the budget) and whose fresh buffers cost page faults.
 * A buffer let go during one call becomes reusable only at the next call that reads or
 * writes: a view handed out by a call is answered (sent to the kernel) before the next
 * request is served. Views handed out after a wait for a load are answered later, so
 * their buffers are never reused.
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
import type { BlockLoader } from "./block_loader.ts";

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/** The smallest dirty page: a small file's page grows from this by doubling. */
const MIN_PAGE_BYTES = 4096;

/** Block buffers kept for reuse: at most this many, and at most a quarter of the budget. */
const MAX_SPARE_BUFFERS = 256;

/** Readahead starts at this many blocks past a read in order and doubles up to the most. */
const READAHEAD_FIRST_BLOCKS = 4;
const READAHEAD_MAX_BLOCKS = 32;
/** Readahead stops while this many loads are in flight. */
const READAHEAD_MAX_IN_FLIGHT = 64;
/** Files whose read position is remembered for readahead. */
const READAHEAD_STREAMS = 1024;

/** Where a file is being read in order: the next offset expected and how far ahead to load. */
interface Stream {
  next: number;
  window: number;
  /** Blocks below this index have been asked for already. */
  issued: number;
}

type HashOf = (idx: number) => BlockHash | null;
type FileInode = Inode & { type: "file" };

/** `hashOf` asked once per block: a read asks for its blocks twice (to load, then to read). */
function memo(hashOf: HashOf): HashOf {
  const known = new Map<number, BlockHash | null>();
  return (idx) => {
    let h = known.get(idx);
    if (h === undefined) known.set(idx, h = hashOf(idx));
    return h;
  };
}

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
  /** Blocks a read or write found cached. */
  hits: number;
  /** Blocks loaded on the JS thread (a write's copy of a block, or no loader threads). */
  misses: number;
  /** Blocks loaded on the loader threads: for a read, and ahead of reads. */
  loads: number;
  readaheadLoads: number;
  /** Reads that waited for a load another read had started. */
  sharedLoads: number;
  /** Loads running now. */
  loadsInFlight: number;
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
  private loads = 0;
  private readaheadLoads = 0;
  private sharedLoads = 0;
  /** Blocks being loaded, by hash key: what a read of them waits for. */
  private readonly loading = new Map<string, Promise<void>>();
  private readonly streams = new Map<string, Stream>();
  private writeouts = 0;
  private blocksWrittenOut = 0;
  private readonly blockSize: number;
  /** Block buffers let go during this call (reusable from the next), and those reusable now. */
  private retired: ArrayBuffer[] = [];
  private readonly spare: ArrayBuffer[] = [];
  private readonly maxSpare: number;
  /** Buffers of views handed out after a wait: the reply is still to come, so never reused. */
  private readonly escaped = new WeakSet<ArrayBuffer>();

  /** Holes and zero tails in reads; shared, never written. */
  private readonly zeros: Uint8Array;

  constructor(
    private readonly store: Store,
    readonly budgetBytes = DEFAULT_CACHE_BYTES,
    private readonly loader?: BlockLoader,
  ) {
    this.blockSize = store.blockSize;
    this.zeros = zeroBlock(this.blockSize);
    this.maxSpare = Math.min(MAX_SPARE_BUFFERS, Math.floor(budgetBytes / 4 / this.blockSize));
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
    const into = this.spareBuffer();
    const loaded = this.store.blocks.get(h, into);
    // Not decoded into it (a delta chain, say): the buffer was never handed out.
    if (loaded.buffer !== into.buffer) this.spare.push(into.buffer as ArrayBuffer);
    const data = this.fitted(loaded);
    this.addClean(k, data);
    return data;
  }

  /**
   * A loaded block as it is kept: a small one in a block buffer is copied out and the
   * buffer, never handed out, is spare again at once.
   */
  private fitted(data: Uint8Array): Uint8Array {
    if (!this.isBlockBuffer(data) || data.length > this.blockSize / 2) return data;
    this.spare.push(data.buffer as ArrayBuffer);
    return data.slice();
  }

  /** Memory a cached block holds: its whole buffer when that is one of the cache's block buffers. */
  private footprint(v: Uint8Array): number {
    return this.isBlockBuffer(v) ? this.blockSize : v.byteLength;
  }

  private isBlockBuffer(v: Uint8Array): boolean {
    return v.byteOffset === 0 && v.buffer.byteLength === this.blockSize;
  }

  /** A block-sized buffer, reused when one is spare (its old bytes still in it unless `zeroed`). */
  private spareBuffer(zeroed = false): Uint8Array {
    const b = this.spare.pop();
    if (!b) return new Uint8Array(this.blockSize);
    const buf = new Uint8Array(b);
    if (zeroed) buf.fill(0);
    return buf;
  }

  /**
   * A zeroed dirty page for the first `bytes` of a block: a whole block buffer, or for a
   * block that holds little so far (a small file), a small page that grows as it is
   * written. Past its end a page reads as zeros, like a stored block.
   */
  private newPage(bytes: number): Uint8Array {
    if (bytes > this.blockSize / 2) return this.spareBuffer(true);
    let n = Math.min(MIN_PAGE_BYTES, this.blockSize);
    while (n < bytes) n *= 2;
    return new Uint8Array(n);
  }

  /** Lets go of a buffer the cache no longer refers to; see the class comment for when it is reused. */
  private retire(v: Uint8Array): void {
    if (this.isBlockBuffer(v) && !this.escaped.has(v.buffer as ArrayBuffer)) this.retired.push(v.buffer as ArrayBuffer);
  }

  /** Start of a call that reads or writes: buffers let go before it may be reused now. */
  private nextCall(): void {
    for (const b of this.retired) {
      if (this.spare.length >= this.maxSpare) break;
      // Let go, then handed out after a wait within the same call: its reply is still to come.
      if (!this.escaped.has(b)) this.spare.push(b);
    }
    this.retired = [];
  }

  /** Views handed out after a wait: their buffers must never be reused. */
  private escape(views: Uint8Array[]): Uint8Array[] {
    for (const v of views) if (v !== this.zeros) this.escaped.add(v.buffer as ArrayBuffer);
    return views;
  }

  private addClean(k: string, data: Uint8Array): void {
    const old = this.clean.get(k);
    if (old) {
      this.clean.delete(k);
      this.cleanBytes -= this.footprint(old);
      if (old.buffer !== data.buffer) this.retire(old);
    }
    this.clean.set(k, data);
    this.cleanBytes += this.footprint(data);
    this.evict();
  }

  private evict(): void {
    for (const [k, v] of this.clean) {
      if (this.cleanBytes + this.dirtyBytes <= this.budgetBytes) break;
      this.clean.delete(k);
      this.cleanBytes -= this.footprint(v);
      this.retire(v);
    }
  }

  // --- reads ------------------------------------------------------------

  /**
   * Bytes of a revision's file, as views of cached blocks (see rangeSegments): valid
   * until the next call into the cache, which is long enough to hand them to the kernel.
   * At once when every block is cached, else once the missing ones are loaded.
   * `stream` names the reader for readahead (the inode).
   */
  entrySegments(e: FileEntry, offset: number, length: number, stream = ""): Uint8Array[] | Promise<Uint8Array[]> {
    this.nextCall();
    // A revision never changes: its block hashes stay good across a wait.
    const hashOf = memo((idx) => this.store.entryBlock(e, idx));
    const now = () => this.segments(e.size, offset, length, hashOf);
    return this.whenLoaded(e.size, offset, length, hashOf, stream, false, now, now);
  }

  /** Bytes of a head file as the mount's writes left it, as views (see entrySegments). */
  headSegments(ino: Ino, offset: number, length: number): Uint8Array[] | Promise<Uint8Array[]> {
    this.nextCall();
    const f = this.fileInode(ino);
    const d = this.dirty.get(ino);
    const size = d?.size ?? f.size;
    // A dirty page is in memory; what is loaded for it would not be read.
    const hashOf = memo((idx) => d?.pages.has(idx) ? null : this.store.head.blockHash(f, idx));
    const now = () => this.segments(size, offset, length, hashOf, d?.pages);
    // After a wait the head may have changed: read it afresh.
    const later = () => this.headSegmentsNow(ino, offset, length);
    // No readahead: on two cores, loading the head ahead on another thread made cold reads
    // slower (479-507 MB/s against 591-593 inline, dd of 1 GiB, by hand).
    return this.whenLoaded(size, offset, length, hashOf, "", true, now, later);
  }

  /** entrySegments copied into one buffer, loading on this thread. */
  readEntry(e: FileEntry, offset: number, length: number): Uint8Array {
    this.nextCall();
    return gather(this.segments(e.size, offset, length, (idx) => this.store.entryBlock(e, idx)));
  }

  /** headSegments copied into one buffer, loading on this thread. */
  readHead(ino: Ino, offset: number, length: number): Uint8Array {
    this.nextCall();
    return gather(this.headSegmentsNow(ino, offset, length));
  }

  private headSegmentsNow(ino: Ino, offset: number, length: number): Uint8Array[] {
    const f = this.fileInode(ino);
    const d = this.dirty.get(ino);
    return this.segments(d?.size ?? f.size, offset, length, (idx) => this.store.head.blockHash(f, idx), d?.pages);
  }

  /** A range as views of its blocks: a dirty page, a stored block (cached, or loaded here), or a hole. */
  private segments(
    size: number,
    offset: number,
    length: number,
    hashOf: HashOf,
    pages?: Map<number, Uint8Array>,
  ): Uint8Array[] {
    return rangeSegments(size, offset, length, this.blockSize, (idx) => {
      const page = pages?.get(idx);
      if (page) return page;
      const h = hashOf(idx);
      return h === null ? null : this.block(h);
    }, this.zeros);
  }

  /**
   * Runs `now` at once when the blocks of [offset, offset + length) are cached (or, if
   * `inline`, not loading: `now` loads them), else `later` after loading them on the
   * loader threads; starts readahead for a reader in order.
   */
  private whenLoaded(
    size: number,
    offset: number,
    length: number,
    hashOf: HashOf,
    stream: string,
    inline: boolean,
    now: () => Uint8Array[],
    later: () => Uint8Array[],
  ): Uint8Array[] | Promise<Uint8Array[]> {
    // The common read of the head: nothing to wait for, nothing to start.
    if (!this.loader?.available || (inline && stream === "" && this.loading.size === 0)) return now();
    const bs = this.blockSize;
    const end = Math.min(offset + length, size);
    const waits: Promise<void>[] = [];
    for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
      const h = hashOf(idx);
      if (h === null) continue;
      const k = hashKey(h);
      if (this.clean.has(k)) continue;
      const running = this.loading.get(k);
      if (running) {
        this.sharedLoads++;
        waits.push(running);
      } else if (!inline) {
        waits.push(this.startLoad(h, k));
      }
    }
    if (stream !== "") this.readahead(stream, offset, end, size, hashOf);
    return waits.length === 0 ? now() : Promise.all(waits).then(() => this.escape(later()));
  }

  /** Loads a block on a loader thread into the clean blocks; reads of it wait for this. */
  private startLoad(h: BlockHash, k: string): Promise<void> {
    this.loads++;
    const p = this.loader!.load(h, this.spare.pop()).then((data) => this.addClean(k, this.fitted(data)))
      .finally(() => this.loading.delete(k));
    // Readahead may start a load nobody waits for: its failure is only a failed guess.
    p.catch(() => {});
    this.loading.set(k, p);
    return p;
  }

  /**
   * After a read that continues the last one of `stream`, loads the blocks past it,
   * further each time (like the kernel's readahead, which sends us reads in 128 KiB
   * pieces). Never more than an eighth of the budget ahead, so it cannot evict itself.
   */
  private readahead(stream: string, offset: number, end: number, size: number, hashOf: HashOf): void {
    const bs = this.blockSize;
    const s = this.streams.get(stream);
    // Reads the kernel has in flight may arrive a little out of order.
    const inOrder = s !== undefined && offset >= s.next - 2 * bs && offset <= s.next + 2 * bs;
    this.streams.delete(stream);
    if (!inOrder) {
      this.streams.set(stream, { next: end, window: READAHEAD_FIRST_BLOCKS, issued: 0 });
      if (this.streams.size > READAHEAD_STREAMS) this.streams.delete(this.streams.keys().next().value!);
      return;
    }
    const maxBlocks = Math.max(1, Math.min(READAHEAD_MAX_BLOCKS, Math.floor(this.budgetBytes / 8 / bs)));
    const window = Math.min(maxBlocks, s.window * 2);
    this.streams.set(stream, { next: Math.max(end, s.next), window, issued: s.issued });
    const from = Math.max(Math.ceil(end / bs), s.issued);
    const to = Math.min(Math.ceil(end / bs) + window, Math.ceil(size / bs));
    let idx = from;
    for (; idx < to; idx++) {
      if (this.loading.size >= READAHEAD_MAX_IN_FLIGHT) break;
      const h = hashOf(idx);
      if (h === null) continue;
      const k = hashKey(h);
      if (this.clean.has(k) || this.loading.has(k)) continue;
      this.readaheadLoads++;
      this.startLoad(h, k);
    }
    this.streams.get(stream)!.issued = idx;
  }

  private headBlock(f: FileInode, idx: number): Uint8Array | null {
    const h = this.store.head.blockHash(f, idx);
    return h === null ? null : this.block(h);
  }

  private fileInode(ino: Ino): FileInode {
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
    this.nextCall();
    // Over budget: write out first, so a failed writeout (disk full) fails this write
    // before it changes anything.
    if (this.dirtyBytes > this.budgetBytes / 2) this.writeOutAll();
    const bs = this.blockSize;
    // The stored inode is read only when a block must be copied or the file is new here.
    let stored: FileInode | undefined;
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
        // Copy before the first write, unless the write covers all the block holds.
        const covered = from === blockStart && to >= Math.min(blockStart + bs, d.size);
        const old = covered ? null : this.headBlock(inode(), idx);
        page = this.newPage(Math.max(to - blockStart, old?.length ?? 0));
        if (old) page.set(old);
        d.pages.set(idx, page);
        this.dirtyBytes += page.length;
      } else if (page.length < to - blockStart) {
        const grown = this.newPage(to - blockStart);
        grown.set(page);
        this.dirtyBytes += grown.length - page.length;
        this.retire(page);
        d.pages.set(idx, page = grown);
      }
      page.set(data.subarray(from - offset, to - offset), from - blockStart);
    }
    d.size = Math.max(d.size, end);
    d.mtimeNs = BigInt(Date.now()) * 1_000_000n;
    this.evict();
  }

  /** Forgets a file that no longer exists in the head (its writes have nowhere to go). */
  drop(ino: Ino): void {
    for (const page of this.forget(ino)?.pages.values() ?? []) this.retire(page);
  }

  /** Takes a file's unwritten changes out of the cache; its pages are the caller's. */
  private forget(ino: Ino): DirtyFile | undefined {
    const d = this.dirty.get(ino);
    if (!d) return undefined;
    for (const page of d.pages.values()) this.dirtyBytes -= page.length;
    this.dirty.delete(ino);
    return d;
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
    const bs = this.blockSize;
    return () => {
      this.blocksWrittenOut += pages.length;
      this.forget(ino);
      // Written pages are stored blocks now: keep them as clean blocks. A small file's
      // page is mostly past its end: keep only its bytes, not a whole block per file.
      for (let n = 0; n < pages.length; n++) {
        const h = hashes[n][1];
        const [idx, page] = pages[n];
        const inFile = d.size - idx * bs;
        if (h !== null && inFile > bs / 2) {
          this.addClean(hashKey(h), page);
          continue;
        }
        // An all-zero page stored nothing; a stored block (h) has bytes, so inFile > 0.
        if (h !== null) this.addClean(hashKey(h), page.slice(0, inFile));
        this.retire(page);
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
      loads: this.loads,
      readaheadLoads: this.readaheadLoads,
      sharedLoads: this.sharedLoads,
      loadsInFlight: this.loading.size,
      writeouts: this.writeouts,
      blocksWrittenOut: this.blocksWrittenOut,
    };
  }
}
