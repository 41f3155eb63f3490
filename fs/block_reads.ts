/**
 * Stored blocks as the page cache's reads take them: from the clean blocks, else read
 * from the store into a pool buffer and kept there; and asked of the disk ahead of a
 * reader of a directory's files.
 */
import { type BlockHash, type DecodedBlock, type FileEntry, hashKey, type Ino, type VersionedStore } from "../mod.ts";
import type { HashOf } from "./block_loads.ts";
import type { BufferPool } from "./buffer_pool.ts";
import type { CleanBlocks } from "./clean_blocks.ts";

/** What the kernel asks for first when a file is read from its start (its read-ahead window). */
const FIRST_READ_BYTES = 128 * 1024;

export class BlockReads {
  /** Blocks read from the store on this thread. */
  misses = 0;
  /** Of those, blocks decoded on the helper thread ahead of their read (`decodeAhead`). */
  decodedAhead = 0;
  /** Files whose first blocks were asked for ahead of a reader of their directory. */
  dirPrefetches = 0;

  constructor(
    private readonly store: VersionedStore,
    private readonly clean: CleanBlocks,
    private readonly pool: BufferPool,
    /** Adds a block to the clean blocks (`used`: by the read that loaded it) and evicts to the budget. */
    private readonly keep: (k: string, data: Uint8Array, used: boolean) => void,
  ) {}

  /** Keys of the blocks kept during `passing`. */
  private passed?: string[];

  /**
   * Runs `read`, a read whose reply is sent before this task yields: the blocks it loads
   * are let go after it rather than kept, but for `ends` (a hash key: the block the read
   * ends inside of, which the next read starts with), and `starts`, kept by the read
   * before for this one, is let go too. For a reader in file order, which does not ask
   * for a block again once past it: kept, a 1 GiB file read cold took a fresh buffer for
   * each block until the cache was full and then pushed older blocks out, and the
   * mount's anonymous memory reached 310 MiB against 46 (by hand, dd). Buffers let go
   * here are reused from the next call (fs/buffer_pool.ts).
   */
  passing<T>(read: () => T, starts: string | undefined, ends: string | undefined): T {
    if (this.passed) return read();
    const passed: string[] = this.passed = [];
    try {
      return read();
    } finally {
      this.passed = undefined;
      if (starts !== undefined) passed.push(starts);
      for (const k of passed) if (k !== ends) this.clean.forget(k);
    }
  }

  private kept(k: string, data: Uint8Array, used: boolean): void {
    this.keep(k, data, used);
    this.passed?.push(k);
  }

  /**
   * A block's bytes; the caller must not change them. `forReply`: for a reply sent
   * before this task yields, so a block stored as it is (raw, as incompressible data
   * is) is answered from the store's memory, checked but neither copied nor cached: the
   * kernel copies it once into its own page cache, which serves the file's next reads.
   * Copied here as well, a 1 GiB file half incompressible read in 1.52-1.69 s against
   * 1.25-1.31 (the store's file in memory; by hand, alternating).
   */
  get(h: BlockHash, forReply: boolean): Uint8Array {
    const k = hashKey(h);
    const hit = this.clean.get(k);
    if (hit) return hit;
    this.misses++;
    let into: Uint8Array | undefined;
    const buffer = () => into = this.pool.take();
    const loaded = forReply
      ? this.store.readBlockForReply(h, buffer)
      : { data: this.store.readBlock(h, buffer()), inPlace: false };
    // Not decoded into it (a delta chain, say): the buffer was never handed out.
    if (into && loaded.data.buffer !== into.buffer) this.pool.giveBack(into.buffer as ArrayBuffer);
    if (loaded.inPlace) return loaded.data;
    const data = this.pool.fitted(loaded.data);
    this.kept(k, data, true);
    return data;
  }

  /** Whether the blocks of [offset, offset + length) not cached are stored whole (no delta among them). */
  storedWhole(size: number, offset: number, length: number, hashOf: HashOf): boolean {
    return this.store.storedWhole([...this.uncached(size, offset, length, hashOf).values()]);
  }

  /**
   * The blocks of a read of [offset, offset + length) of a file of `size` bytes that are
   * neither in `pages` (dirty) nor cached: when there are several, the compressed ones
   * are decoded together (on two threads: store.readBlocksForReply) and kept; the rest
   * are left to `get`. A 1 MiB read of a file half compressed has eight such blocks, and
   * decoding them one by one was a third of a sequential read's time.
   */
  getTogether(size: number, offset: number, length: number, hashOf: HashOf, pages?: Map<number, Uint8Array>): void {
    let wanted = this.uncached(size, offset, length, hashOf, pages);
    if (this.keepAhead(this.store.collectDecodedAhead([...wanted.values()]), wanted)) {
      wanted = this.uncached(size, offset, length, hashOf, pages);
    }
    if (wanted.size < 2) return;
    const hashes = [...wanted.values()];
    const decoded = this.store.readBlocksForReply(hashes, () => this.pool.take());
    decoded.forEach((data, i) => {
      if (data === undefined) return;
      this.misses++;
      this.kept(hashKey(hashes[i]), this.pool.fitted(data), false);
    });
  }

  /**
   * Queues the blocks of `reads` reads of `length` bytes from `offset` of a file of
   * `size` bytes, those not cached (nor dirty: `hashOf` gives null), to be decoded on
   * the helper thread (store.decodeBlocksAhead) while this thread answers the reads
   * before: the next reads of a reader in file order. One batch a read, so that a read
   * waits for its own blocks only; the `getTogether` of the read keeps them.
   */
  decodeAhead(size: number, offset: number, length: number, reads: number, hashOf: HashOf): void {
    for (let at = offset; at < size && at < offset + reads * length; at += length) {
      const hashes = [...this.uncached(size, at, length, hashOf).values()];
      this.store.decodeBlocksAhead(hashes, () => this.pool.take());
    }
  }

  /**
   * Blocks decoded ahead, kept as not read yet (if no read takes them, they are the
   * first to go); those the read `wanted` (by hash key) are let go after it as a reader
   * in order's are (`passing`), the others kept for the reads they were decoded for.
   * False when there were none.
   */
  private keepAhead(blocks: readonly DecodedBlock[], wanted: Map<string, BlockHash>): boolean {
    for (const b of blocks) {
      const k = hashKey(b.hash);
      if (this.clean.has(k)) {
        if (this.pool.isBlockBuffer(b.data)) this.pool.giveBack(b.data.buffer as ArrayBuffer);
        continue;
      }
      this.misses++;
      this.decodedAhead++;
      if (wanted.has(k)) this.kept(k, this.pool.fitted(b.data), false);
      else this.keep(k, this.pool.fitted(b.data), false);
    }
    return blocks.length > 0;
  }

  /** The blocks of a range that are neither dirty (`pages`) nor cached, by hash key. */
  private uncached(
    size: number,
    offset: number,
    length: number,
    hashOf: HashOf,
    pages?: Map<number, Uint8Array>,
  ): Map<string, BlockHash> {
    const bs = this.store.blockSize;
    const end = Math.min(offset + length, size);
    const wanted = new Map<string, BlockHash>();
    for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
      if (pages?.has(idx)) continue;
      const h = hashOf(idx);
      if (h === null) continue;
      const k = hashKey(h);
      if (!this.clean.has(k)) wanted.set(k, h);
    }
    return wanted;
  }

  /** `prefetchStarts` for head files; blocks dirty in the pages `pagesOf` gives are skipped. */
  prefetchHeadStarts(inos: readonly Ino[], pagesOf: (ino: Ino) => Map<number, Uint8Array> | undefined): void {
    this.prefetchStarts(inos.flatMap((ino) => {
      const f = this.store.head.inode(ino);
      if (f?.type !== "file" || f.inline) return [];
      const pages = pagesOf(ino);
      return [{ size: f.size, hashOf: (idx: number) => pages?.has(idx) ? null : this.store.head.blockHash(f, idx) }];
    }));
  }

  /** `prefetchStarts` for files of revisions. */
  prefetchEntryStarts(entries: readonly FileEntry[]): void {
    this.prefetchStarts(
      entries.filter((e) => !e.inline).map((e) => ({
        size: e.size,
        hashOf: (idx: number) => this.store.entryBlock(e, idx),
      })),
    );
  }

  /**
   * Asks the disk for the first records of these files (up to the kernel's first read of
   * a file, 128 KiB), not waiting for them: a reader of their directory opens them next
   * (fs/dir_read_ahead.ts). `hashOf` gives null for a block in memory another way (a
   * dirty page); cached blocks are skipped.
   */
  private prefetchStarts(files: Iterable<{ size: number; hashOf: HashOf }>): void {
    const bs = this.store.blockSize;
    const hashes: BlockHash[] = [];
    for (const f of files) {
      const blocks = Math.min(Math.ceil(f.size / bs), Math.ceil(FIRST_READ_BYTES / bs));
      const before = hashes.length;
      for (let idx = 0; idx < blocks; idx++) {
        const h = f.hashOf(idx);
        if (h !== null && !this.clean.has(hashKey(h))) hashes.push(h);
      }
      if (hashes.length > before) this.dirPrefetches++;
    }
    // The top records only: finding a delta's base would wait for the disk here.
    if (hashes.length > 0) this.store.prefetchBlocks(hashes, "top");
  }
}
