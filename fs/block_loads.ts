/**
 * Loads of blocks on the loader threads (fs/block_loader.ts), for the page cache:
 *
 * - A read that misses waits only for its own blocks; other requests go on meanwhile.
 * - Two reads of one block share one load (`loading`, by hash key).
 * - A file read in order has the blocks after it loaded ahead of it (readahead).
 *
 * Loaded blocks go into the clean blocks; reads then take them from there.
 */
import { type BlockHash, hashKey } from "../mod.ts";
import type { BlockLoader } from "./block_loader.ts";
import type { BufferPool } from "./buffer_pool.ts";
import type { CleanBlocks } from "./clean_blocks.ts";
import { ReadStreams } from "./read_streams.ts";

/** Readahead starts at this many blocks past a read in order and doubles up to the most. */
const READAHEAD_FIRST_BLOCKS = 4;
const READAHEAD_MAX_BLOCKS = 32;
/** Readahead stops while this many loads are in flight. */
const READAHEAD_MAX_IN_FLIGHT = 64;
/** Files whose read position is remembered for readahead. */
const READAHEAD_STREAMS = 1024;

export type HashOf = (idx: number) => BlockHash | null;

/** Where a file is being read in order: the next offset expected and how far ahead to load. */
interface Stream {
  next: number;
  window: number;
  /** Blocks below this index have been asked for already. */
  issued: number;
}

export class BlockLoads {
  loads = 0;
  readaheadLoads = 0;
  sharedLoads = 0;
  /** Blocks being loaded, by hash key: what a read of them waits for. */
  private readonly loading = new Map<string, Promise<void>>();
  private readonly streams: ReadStreams<string, Stream>;
  private readonly maxAhead: number;

  constructor(
    private readonly clean: CleanBlocks,
    private readonly pool: BufferPool,
    /** Adds a loaded block to the clean blocks and evicts to the budget. */
    private readonly keep: (key: string, data: Uint8Array) => void,
    budgetBytes: number,
    private readonly loader?: BlockLoader,
  ) {
    // Never more than an eighth of the budget ahead, so readahead cannot evict itself.
    this.maxAhead = Math.max(1, Math.min(READAHEAD_MAX_BLOCKS, Math.floor(budgetBytes / 8 / pool.blockSize)));
    this.streams = new ReadStreams(pool.blockSize, READAHEAD_STREAMS);
  }

  get inFlight(): number {
    return this.loading.size;
  }

  isLoading(key: string): boolean {
    return this.loading.has(key);
  }

  /**
   * Runs `now` at once when the blocks of [offset, offset + length) are cached (or, if
   * `inline`, not loading: `now` loads them), else `later` after loading them on the
   * loader threads; starts readahead for a reader in order (`stream` names it).
   */
  whenLoaded(
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
    const bs = this.pool.blockSize;
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
        waits.push(this.start(h, k));
      }
    }
    if (stream !== "") this.readahead(stream, offset, end, size, hashOf);
    return waits.length === 0 ? now() : Promise.all(waits).then(later);
  }

  /** Loads a block on a loader thread into the clean blocks; reads of it wait for this. */
  private start(h: BlockHash, k: string): Promise<void> {
    this.loads++;
    const p = this.loader!.load(h, this.pool.takeRaw()).then((data) => this.keep(k, this.pool.fitted(data)))
      .finally(() => this.loading.delete(k));
    // Readahead may start a load nobody waits for: its failure is only a failed guess.
    p.catch(() => {});
    this.loading.set(k, p);
    return p;
  }

  /**
   * After a read that continues the last one of `stream`, loads the blocks past it,
   * further each time (like the kernel's readahead, which sends us reads in 128 KiB
   * pieces).
   */
  private readahead(stream: string, offset: number, end: number, size: number, hashOf: HashOf): void {
    const bs = this.pool.blockSize;
    const s = this.streams.follow(stream, offset, end, { next: end, window: READAHEAD_FIRST_BLOCKS, issued: 0 });
    if (!s) return;
    s.window = Math.min(this.maxAhead, s.window * 2);
    const from = Math.max(Math.ceil(end / bs), s.issued);
    const to = Math.min(Math.ceil(end / bs) + s.window, Math.ceil(size / bs));
    let idx = from;
    for (; idx < to; idx++) {
      if (this.loading.size >= READAHEAD_MAX_IN_FLIGHT) break;
      const h = hashOf(idx);
      if (h === null) continue;
      const k = hashKey(h);
      if (this.clean.has(k) || this.loading.has(k)) continue;
      this.readaheadLoads++;
      this.start(h, k);
    }
    s.issued = idx;
  }
}
