/**
 * Blocks decoded ahead of their read on the two-thread decoder's helper (sys/zstd_pool):
 * the zstd records of a reader in file order's next reads are queued while the request
 * thread answers this one, and collected by the read that needs them.
 *
 * The frames are views of the store's memory, read on the helper after the task that
 * queued them, so each batch holds the read transaction (RecordStore.holdViews) until it
 * is collected; before any write begins the store ends every hold, and what the batches
 * decoded waits here for the next `collect`.
 *
 * Looking ahead also tells which of those blocks are stored whole, which the page cache
 * asks before every read of a revision (`isWhole`): answered from what was looked up
 * here, the request thread no longer looks each record up twice (a revision's 1 GiB
 * file read cold, four times each, alternating: its CPU 0.78-0.93 s against 0.87-1.04,
 * 838-926 MB/s against 758-857).
 */
import { isDelta } from "./block_codec.ts";
import type { Dictionaries } from "./dicts.ts";
import { frameJobs } from "./frame_jobs.ts";
import { hashKey } from "./hash.ts";
import type { RecordStore } from "../records/records.ts";
import type { BlockHash, DecodedBlock } from "../types.ts";
import type { AheadBatch, ZstdPool } from "../../sys/zstd_pool/zstd_pool.ts";

/** Blocks `isWhole` is kept for at most: a few reads ahead of a few readers need far fewer. */
const MAX_WHOLE = 4096;

interface Queued {
  pool: ZstdPool;
  batch: AheadBatch;
  hashes: BlockHash[];
  /** Lets go of the read transaction the batch's frames are views into. */
  release: () => void;
}

export class DecodeAhead {
  /** Batches queued, oldest first, until collected. */
  private readonly queued: Queued[] = [];
  /** Hash keys of the blocks in `queued`. */
  private readonly keys = new Set<string>();
  /**
   * Hash keys of blocks looked up here and not queued, stored whole (raw records, say),
   * until `isWhole` is asked of them. Only a hint of which path a read takes (a record
   * changed since reads right either way), so dropped rather than kept exact.
   */
  private readonly whole = new Set<string>();
  /** What batches decoded, until `collect` hands it out. */
  private done: DecodedBlock[] = [];

  constructor(private readonly records: RecordStore, private readonly dicts: Dictionaries) {}

  /**
   * Queues the zstd records among `hashes` on `pool`'s helper, decoded into buffers
   * `into` gives while the caller goes on. Blocks queued already are skipped; nothing is
   * queued inside a write (whose views may move).
   */
  queue(pool: ZstdPool, hashes: readonly BlockHash[], into: () => Uint8Array): void {
    const fresh = hashes.filter((h) => {
      const k = hashKey(h);
      return !this.keys.has(k) && !this.whole.has(k);
    });
    if (fresh.length === 0) return;
    const release = this.records.holdViews(() => this.takeAll());
    if (!release) return;
    let found: ReturnType<typeof frameJobs>;
    let stored: (Uint8Array | undefined)[];
    try {
      // Asked of the disk ahead of the reader already (fs/head_prefetch.ts).
      stored = this.records.peekAll("blocks", fresh, true);
      found = frameJobs(stored, fresh, this.dicts, into);
    } catch {
      // A damaged record: its own read reports it, not the read that looked ahead.
      return release();
    }
    const { jobs, at } = found;
    if (this.whole.size > MAX_WHOLE) this.whole.clear();
    const queuedAt = new Set(at);
    stored.forEach((s, i) => {
      if (s && !isDelta(s) && !queuedAt.has(i)) this.whole.add(hashKey(fresh[i]));
    });
    if (jobs.length === 0) return release();
    const queued = at.map((i) => fresh[i]);
    this.queued.push({ pool, batch: pool.ahead(jobs), hashes: queued, release });
    for (const h of queued) this.keys.add(hashKey(h));
  }

  /**
   * True when `h` was looked up here and is stored whole (queued, or seen and not
   * queued); false when not known, which only says to look.
   */
  isWhole(h: BlockHash): boolean {
    const k = hashKey(h);
    return this.keys.has(k) || this.whole.delete(k);
  }

  /**
   * Blocks decoded ahead: those of the batches that hold any of `wanted` (and of the
   * batches queued before them), waited for (decoded on this thread too, if need be),
   * and any a write made the store wait for. A frame that failed is left out: its read
   * decodes it again and says why.
   */
  collect(wanted: readonly BlockHash[]): DecodedBlock[] {
    if (this.queued.length > 0 && wanted.length > 0) {
      const keys = new Set(wanted.map(hashKey));
      let upTo = 0;
      this.queued.forEach((q, i) => {
        if (q.hashes.some((h) => keys.has(hashKey(h)))) upTo = i + 1;
      });
      this.take(upTo);
    }
    const out = this.done;
    this.done = [];
    return out;
  }

  /** Waits for every queued batch (before a write, whose frames they may be). */
  private takeAll(): void {
    this.take(this.queued.length);
    this.whole.clear();
  }

  /** Waits for the first `n` queued batches and moves what they decoded to `done`. */
  private take(n: number): void {
    for (const q of this.queued.splice(0, n)) {
      try {
        q.pool.wait(q.batch).forEach((size, i) => {
          this.keys.delete(hashKey(q.hashes[i]));
          if (size !== undefined) this.done.push({ hash: q.hashes[i], data: q.batch.jobs[i].into.subarray(0, size) });
        });
      } finally {
        q.release();
      }
    }
  }
}
