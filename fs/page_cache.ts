/**
 * The mount's block page cache, after wendelin.core's file pages. Six parts, one job
 * each:
 *
 * - clean blocks by content hash, shared by the head and `.snapshots`: those used once
 *   on probation, evicted first, the rest least recently used first (fs/clean_blocks.ts);
 * - blocks read into them on this thread, a read's compressed blocks decoded together
 *   on two threads, and the first blocks of a directory's files asked of the disk
 *   ahead of its reader (fs/block_reads.ts);
 * - dirty pages of head files and their writeout: on fsync (that file), when dirty
 *   bytes pass 32 MiB (or half the budget), on the mount's timer, in a snapshot's own
 *   transaction and at unmount (fs/dirty_pages.ts);
 * - loads on the loader threads, shared and read ahead (fs/block_loads.ts). A
 *   revision's block may sit at the end of a delta chain, and that decode holds up only
 *   the reads that need it. The head's blocks are stored whole, so a read of the head
 *   loads on this thread (a thread round trip costs more than the load), unless the
 *   block is loading already;
 * - readers in file order: the records ahead of them asked for, their next reads'
 *   compressed blocks decoded on the helper thread, the blocks they have passed let go
 *   (fs/in_order_reads.ts);
 * - block buffers for reuse (fs/buffer_pool.ts).
 *
 * Clean and dirty bytes and the pool's spare buffers stay within the budget, except
 * that dirty pages are only ever freed by writeout.
 */
import {
  type BlockHash,
  type FileEntry,
  type FileInode,
  gather,
  hashKey,
  type Ino,
  rangeSegments,
  RevfsError,
  type Revision,
  type VersionedStore,
  zeroBlock,
} from "../mod.ts";
import type { BlockLoader } from "./block_loader.ts";
import { BlockLoads, type HashOf } from "./block_loads.ts";
import { BlockReads } from "./block_reads.ts";
import { BufferPool, spareBuffersFor } from "./buffer_pool.ts";
import type { MemoryRelease } from "./memory_release.ts";
import { CleanBlocks } from "./clean_blocks.ts";
import { type DirtyFile, DirtyPages } from "./dirty_pages.ts";
import { InOrderReads } from "./in_order_reads.ts";
import type { PageCacheStats } from "./page_cache_stats.ts";

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
/**
 * The share of the budget blocks used once may hold (fs/clean_blocks.ts): twice what
 * loads ahead of a reader may take (fs/block_loads.ts), so blocks loaded for reads still
 * to come are not evicted before them.
 */
const PROBATION_SHARE = 1 / 4;

/** `hashOf` asked once per block: a read asks for its blocks twice (to load, then to read). */
function memo(hashOf: HashOf): HashOf {
  const known = new Map<number, BlockHash | null>();
  return (idx) => {
    let h = known.get(idx);
    if (h === undefined) known.set(idx, h = hashOf(idx));
    return h;
  };
}

export class PageCache {
  private readonly pool: BufferPool;
  private readonly clean: CleanBlocks;
  private readonly dirty: DirtyPages;
  private readonly loads: BlockLoads;
  private readonly inOrder: InOrderReads;
  private readonly loaded: BlockReads;
  /** Holes and zero tails in reads; shared, never written. */
  private readonly zeros: Uint8Array;
  /** Bytes of the budget the clean blocks leave for spare buffers (fs/buffer_pool.ts). */
  private readonly spareRoom: number;

  constructor(
    private readonly store: VersionedStore,
    readonly budgetBytes = DEFAULT_CACHE_BYTES,
    loader?: BlockLoader,
    /** Gives what the cache lets go of back to the system (the mount's; tests leave it to V8). */
    release?: MemoryRelease,
  ) {
    const bs = store.blockSize;
    if (budgetBytes < 4 * bs) {
      throw new RevfsError("INVALID", `cache budget must be at least ${4 * bs} bytes`);
    }
    this.zeros = zeroBlock(bs);
    const { maxSpare, spareRoom } = spareBuffersFor(budgetBytes, bs);
    this.spareRoom = spareRoom;
    this.pool = new BufferPool(
      bs,
      maxSpare,
      () => this.budgetBytes - this.clean.bytes - this.dirty.bytes,
      (bytes) => release?.dropped(bytes),
    );
    this.clean = new CleanBlocks(this.pool, budgetBytes * PROBATION_SHARE);
    // Written out, or loaded for reads still to come: not used yet (fs/clean_blocks.ts).
    const keep = (k: string, data: Uint8Array) => this.keep(k, data, false);
    this.dirty = new DirtyPages(store, this.pool, keep, budgetBytes / 2, (bytes) => release?.wroteOut(bytes));
    this.loads = new BlockLoads(this.clean, this.pool, keep, budgetBytes, loader);
    this.loaded = new BlockReads(store, this.clean, this.pool, (k, data, used) => this.keep(k, data, used));
    // The top records only: finding a delta's base would wait for the disk here.
    this.inOrder = new InOrderReads(bs, this.clean, this.loaded, (hashes) => store.prefetchBlocks(hashes, "ahead"));
    // A deleted file's blocks, or those a write replaced, would otherwise sit in the
    // cache until evicted, and their buffers in memory until collected.
    store.head.onFreed((h) => this.clean.forget(hashKey(h)));
  }

  private keep(k: string, data: Uint8Array, used: boolean): void {
    this.clean.add(k, data, used);
    this.evict();
  }

  /** Clean blocks make room for dirty ones and for the pool's spare buffers: all of them are the budget's. */
  private evict(): void {
    const spare = Math.max(this.pool.heldBytes, this.spareRoom);
    this.clean.evictTo(this.budgetBytes - this.dirty.bytes - spare);
    // Dirty pages grown past what the clean blocks gave up: spare buffers go too.
    this.pool.trimTo(this.budgetBytes - this.dirty.bytes - this.clean.bytes);
  }

  /** A stored block's bytes, from the cache or loaded into it here. The caller must not change them. */
  private block(h: BlockHash): Uint8Array {
    return this.loaded.get(h, false);
  }

  /** A stored block for a reply sent before this task yields (fs/block_reads.ts). */
  private replyBlock(h: BlockHash): Uint8Array {
    return this.loaded.get(h, true);
  }

  // --- reads ------------------------------------------------------------

  /**
   * Bytes of a revision's file, as views of cached blocks (see rangeSegments): valid
   * until the next call into the cache, which is long enough to hand them to the kernel.
   * At once when every block is cached, else once the missing ones are loaded.
   * `stream` names the reader for readahead (the inode). Views given at once may be of
   * the store's memory (see `replyBlock`): the caller replies with them before it yields.
   */
  entrySegments(e: FileEntry, offset: number, length: number, stream = ""): Uint8Array[] | Promise<Uint8Array[]> {
    this.pool.nextCall();
    // A small file is in its directory page: nothing to load.
    if (e.inline) return this.segments(e.size, offset, length, () => null, inlinePage(e.inline));
    // A revision never changes: its block hashes stay good across a wait.
    const hashOf = memo((idx) => this.store.entryBlock(e, idx));
    const now = () => this.segments(e.size, offset, length, hashOf, undefined, true);
    const later = this.escaping(() => this.segments(e.size, offset, length, hashOf));
    // Blocks stored whole are read as the head's are: here, decoded together, their
    // records asked of the disk ahead. Only delta chains, several records a block, go to
    // the loader threads. Loaded there, a 1 GiB file of the latest revision read at half
    // the speed of the same file in the head (by hand, the store's file in memory).
    if (this.loaded.storedWhole(e.size, offset, length, hashOf)) {
      const read = this.inOrder.read(stream, offset, length, e.size, hashOf, now);
      return this.loads.whenLoaded(e.size, offset, length, hashOf, "", true, read, later);
    }
    return this.loads.whenLoaded(e.size, offset, length, hashOf, stream, false, now, later);
  }

  /** Bytes of a head file as the mount's writes left it, as views (see entrySegments). */
  headSegments(ino: Ino, offset: number, length: number): Uint8Array[] | Promise<Uint8Array[]> {
    this.pool.nextCall();
    const f = this.fileInode(ino);
    const d = this.dirty.get(ino);
    const size = d?.size ?? f.size;
    const pages = this.headPages(f, d);
    // A dirty page is in memory; what is loaded for it would not be read.
    const hashOf = memo((idx) => pages?.has(idx) ? null : this.store.head.blockHash(f, idx));
    const now = () => this.segments(size, offset, length, hashOf, pages, true);
    // After a wait the head may have changed: read it afresh.
    const later = this.escaping(() => this.headSegmentsNow(ino, offset, length));
    // Not loaded ahead on another thread: on two cores that made cold reads slower
    // (479-507 MB/s against 591-593 inline, dd of 1 GiB, by hand). Asked of the disk ahead.
    const read = this.inOrder.read(ino, offset, length, size, hashOf, now);
    return this.loads.whenLoaded(size, offset, length, hashOf, "", true, read, later);
  }

  /** Asks the disk for the first records of these head files (fs/block_reads.ts `prefetchStarts`). */
  prefetchStarts(inos: readonly Ino[]): void {
    this.loaded.prefetchHeadStarts(inos, (ino) => this.dirty.get(ino)?.pages);
  }

  /** Asks the disk for the first records of these files of revisions (see prefetchStarts). */
  prefetchEntryStarts(entries: readonly FileEntry[]): void {
    this.loaded.prefetchEntryStarts(entries);
  }

  /** entrySegments copied into one buffer, loading on this thread. */
  readEntry(e: FileEntry, offset: number, length: number): Uint8Array {
    this.pool.nextCall();
    if (e.inline) return gather(this.segments(e.size, offset, length, () => null, inlinePage(e.inline)));
    return gather(this.segments(e.size, offset, length, (idx) => this.store.entryBlock(e, idx)));
  }

  /** headSegments copied into one buffer, loading on this thread. */
  readHead(ino: Ino, offset: number, length: number): Uint8Array {
    this.pool.nextCall();
    return gather(this.headSegmentsNow(ino, offset, length));
  }

  /** Views a read answered with have reached the kernel: buffers held back for them may be reused. */
  sent(views: Uint8Array[]): void {
    this.pool.sent(views);
  }

  /** Views answered after a wait: their buffers are not reused until they are sent. */
  private escaping(read: () => Uint8Array[]): () => Uint8Array[] {
    return () => this.pool.escape(read(), this.zeros);
  }

  private headSegmentsNow(ino: Ino, offset: number, length: number): Uint8Array[] {
    const f = this.fileInode(ino);
    const d = this.dirty.get(ino);
    const pages = this.headPages(f, d);
    return this.segments(d?.size ?? f.size, offset, length, (idx) => this.store.head.blockHash(f, idx), pages);
  }

  /**
   * A head file's dirty pages, with its inline block (a small file kept in its
   * directory's last snapshot, which has no record to load) as page 0 under them.
   */
  private headPages(f: FileInode, d: DirtyFile | undefined): Map<number, Uint8Array> | undefined {
    const inline = f.inline && !d?.pages.has(0) ? this.store.head.inlineBlock(f) : undefined;
    if (!inline) return d?.pages;
    const pages = new Map<number, Uint8Array>(d?.pages);
    pages.set(0, inline);
    return pages;
  }

  /**
   * A range as views of its blocks: a dirty page, a stored block (cached, or loaded
   * here), or a hole. `inPlace`: for a reply made before this task yields (`replyBlock`).
   */
  private segments(
    size: number,
    offset: number,
    length: number,
    hashOf: HashOf,
    pages?: Map<number, Uint8Array>,
    inPlace = false,
  ): Uint8Array[] {
    if (inPlace) this.loaded.getTogether(size, offset, length, hashOf, pages);
    return rangeSegments(size, offset, length, this.store.blockSize, (idx) => {
      const page = pages?.get(idx);
      if (page) return page;
      const h = hashOf(idx);
      if (h === null) return null;
      return inPlace ? this.replyBlock(h) : this.block(h);
    }, this.zeros);
  }

  private fileInode(ino: Ino): FileInode {
    const i = this.store.head.inode(ino);
    if (!i) throw new RevfsError("NO_SUCH_PATH", `inode ${ino} does not exist`);
    if (i.type !== "file") throw new RevfsError("IS_A_DIR", "is not a file", { path: i.name });
    return i;
  }

  // --- writes -------------------------------------------------------------

  /** Size, mtime and ctime of a head file with unwritten changes; undefined when it has none. */
  pending(ino: Ino): { size: number; mtimeNs: bigint; ctimeNs: bigint } | undefined {
    const d = this.dirty.get(ino);
    return d && { size: d.size, mtimeNs: d.mtimeNs, ctimeNs: d.ctimeNs };
  }

  /** Whether a file has writes only in the store's write log. */
  isLogged(ino: Ino): boolean {
    return this.dirty.isLogged(ino);
  }

  /** Sets the times of a file with unwritten changes; false when it has none. */
  setPendingTimes(ino: Ino, t: { mtimeNs?: bigint; ctimeNs?: bigint }): boolean {
    return this.dirty.setTimes(ino, t);
  }

  write(ino: Ino, offset: number, data: Uint8Array): void {
    this.pool.nextCall();
    // Written out first, so that a failed writeout fails this write before it changes anything.
    if (this.dirty.mustWriteOut) {
      try {
        this.writeOutAll();
      } catch (e) {
        this.dirty.writeOutFailed(e);
      }
    }
    let stored: FileInode | undefined;
    this.dirty.write(ino, offset, data, () => stored ??= this.fileInode(ino), (f, idx) => {
      const inline = idx === 0 && f.inline ? this.store.head.inlineBlock(f) : undefined;
      if (inline) return inline;
      const h = this.store.head.blockHash(f, idx);
      return h === null ? null : this.block(h);
    });
    this.evict();
  }

  /** Forgets a file that no longer exists in the head (its writes have nowhere to go). */
  drop(ino: Ino): void {
    this.dirty.drop(ino);
    this.inOrder.forget(ino);
  }

  /**
   * Makes one file's writes, and every namespace change, durable (fsync): small writes
   * through the store's write log, keeping the pages dirty; else by writing out.
   */
  sync(ino: Ino): void {
    if (this.dirty.log(ino)) return;
    this.writeOut(ino);
    this.store.commit(); // namespace changes, when there was nothing to write out
  }

  /**
   * Before the store changes a file's size: what is cached goes first, or (a truncate
   * to nothing of a file with no logged writes) is dropped, as there is nothing to keep.
   */
  beforeResize(ino: Ino, size: number): void {
    if (size === 0 && !this.dirty.isLogged(ino)) this.dirty.drop(ino);
    else this.writeOut(ino);
  }

  /** Writes out one file's dirty pages, in block order. */
  writeOut(ino: Ino): void {
    if (this.dirty.get(ino)) this.dirty.writeOut([ino]);
  }

  /** Writes out every dirty page: files in inode order, blocks in block order, one transaction. */
  writeOutAll(): void {
    if (this.dirty.fileCount === 0) return;
    this.dirty.writeOut(this.dirty.inos());
    this.evict();
  }

  /**
   * A snapshot of the head with every write made so far. The dirty files are written out
   * in the snapshot's own transaction: one commit, one sync, where a writeout and then a
   * snapshot took two. Logged files first fold the write log in a commit of their own
   * (store/head/head_log.ts), as any writeout of them does.
   */
  snapshot(message: string): Revision {
    if (this.dirty.loggedCount > 0) this.writeOutAll();
    let written: (() => void) | undefined;
    const rev = this.store.snapshot(message, {
      before: () => {
        if (this.dirty.fileCount > 0) written = this.dirty.stageWriteOut(this.dirty.inos());
      },
      deltasLater: true,
    });
    // Committed: the pages are clean blocks now (until then they stayed dirty).
    written?.();
    this.evict();
    return rev;
  }

  stats(): PageCacheStats {
    return {
      budgetBytes: this.budgetBytes,
      cachedBytes: this.clean.bytes,
      dirtyBytes: this.dirty.bytes,
      spareBytes: this.pool.heldBytes,
      cachedBlocks: this.clean.count,
      dirtyBlocks: this.dirty.pageCount,
      dirtyFiles: this.dirty.fileCount,
      hits: this.clean.hits,
      misses: this.loaded.misses,
      loads: this.loads.loads,
      readaheadLoads: this.loads.readaheadLoads,
      headPrefetches: this.inOrder.asked,
      decodedAhead: this.loaded.decodedAhead,
      dirPrefetches: this.loaded.dirPrefetches,
      sharedLoads: this.loads.sharedLoads,
      loadsInFlight: this.loads.inFlight,
      writeouts: this.dirty.writeouts,
      blocksWrittenOut: this.dirty.blocksWrittenOut,
      logs: this.dirty.logs,
      loggedBytes: this.dirty.loggedBytes,
    };
  }
}

/** A small file's bytes as its only page. */
function inlinePage(bytes: Uint8Array): Map<number, Uint8Array> {
  return new Map([[0, bytes]]);
}
