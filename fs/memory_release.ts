/**
 * Handing memory the cache let go of back to the system, soon enough that the mount's
 * resident memory follows the cache's budget.
 *
 * Two kinds of memory lag behind: block buffers the cache drops are freed only when V8
 * collects them, which it does for buffers only after ~64 MiB more of them (measured:
 * 60 MiB of dropped buffers on top of a full 256 MiB cache while 10,000 small files
 * replaced cached blocks); and the copies LMDB makes of a writeout's pages, freed at the
 * commit into glibc's heap, which keeps them until a trim. So: once COLLECT_AFTER_BYTES
 * of buffers have been dropped since the last look, a look at the process's anonymous
 * resident memory, and a full collection when that is over the limit (the cache's
 * budget and what the rest of the mount needs) or when much was dropped since the last
 * one (a deleted file's cached blocks: the next work would pile its memory on top of
 * them); and a trim once TRIM_AFTER_BYTES have been written out (1-2 ms). Both run in a
 * task of their own, after the request that let go has been answered.
 *
 * A collection takes 15-80 ms, more with more files' inodes in the heap, and it is V8's
 * memory-reducing kind (two full collections, as Deno's gc() asks for), which also
 * shrinks the young generation: creating 10,000 small files after a full cache measured
 * 5-8% slower for 40-60 MiB less when it collected whenever the buffers dropped outgrew
 * the budget's room (docs/BENCHMARKS.md). Looking at the memory itself collects only
 * when it is needed.
 */
import { libc } from "../sys/libc.ts";
import { residentMemory } from "../sys/resident_memory.ts";
import { collectGarbage } from "../sys/v8_gc.ts";

const COLLECT_AFTER_BYTES = 16 << 20;
/**
 * What the mount holds besides the cache before a collection is worth it: ~30 MiB idle
 * (V8's heap and code, LMDB, glibc), more with many inodes and pending changes.
 */
const HEADROOM_BYTES = 64 << 20;
const TRIM_AFTER_BYTES = 8 << 20;
/** Dropped since the last collection, in COLLECT_AFTER_BYTES, that is collected whatever the memory. */
const BIG_DROP_COLLECTS = 4;

export interface MemoryReleaseStats {
  /** Looks at the resident memory, and the collections some of them asked for. */
  looks: number;
  collections: number;
  collectMs: number;
}

export class MemoryRelease {
  /** Dropped since the last look. */
  private droppedBytes = 0;
  /** Dropped since the last collection. */
  private uncollectedBytes = 0;
  private writtenOutBytes = 0;
  private scheduled: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly limitBytes: number;
  readonly stats: MemoryReleaseStats = { looks: 0, collections: 0, collectMs: 0 };

  constructor(
    /** The cache's budget: dropped buffers are collected when the memory is over it and HEADROOM_BYTES. */
    budgetBytes: number,
    private readonly residentAnon: () => number = () => residentMemory().rssAnonBytes,
    private readonly collect: () => void = collectGarbage,
    private readonly trim: () => void = () => libc().malloc_trim(0n),
    private readonly collectAfterBytes = COLLECT_AFTER_BYTES,
    private readonly trimAfterBytes = TRIM_AFTER_BYTES,
  ) {
    this.limitBytes = budgetBytes + HEADROOM_BYTES;
  }

  /** Buffers of `bytes` were left to the garbage collector. */
  dropped(bytes: number): void {
    this.droppedBytes += bytes;
    this.uncollectedBytes += bytes;
    if (this.droppedBytes >= this.collectAfterBytes) this.schedule();
  }

  /** A writeout of `bytes` committed (LMDB has freed its copies of them). */
  wroteOut(bytes: number): void {
    this.writtenOutBytes += bytes;
    if (this.writtenOutBytes >= this.trimAfterBytes) this.schedule();
  }

  /** No more releases (the mount is stopping). */
  close(): void {
    this.closed = true;
    clearTimeout(this.scheduled);
    this.scheduled = undefined;
  }

  private schedule(): void {
    if (this.scheduled !== undefined || this.closed) return;
    this.scheduled = setTimeout(() => this.release(), 0);
  }

  private release(): void {
    this.scheduled = undefined;
    if (this.droppedBytes >= this.collectAfterBytes) {
      this.stats.looks++;
      // Much let go at once (a deleted file's cached blocks) is collected under the
      // limit too: work that follows would pile its memory on top before V8 got to it.
      const much = this.uncollectedBytes >= BIG_DROP_COLLECTS * this.collectAfterBytes;
      if (much || this.residentAnon() > this.limitBytes) {
        const t = performance.now();
        this.collect();
        this.stats.collections++;
        this.stats.collectMs += performance.now() - t;
        this.uncollectedBytes = 0;
      }
      this.droppedBytes = 0;
    }
    // After a collection too: small buffers it freed go back to glibc's heap.
    this.trim();
    this.writtenOutBytes = 0;
  }
}
