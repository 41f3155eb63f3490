/**
 * Handing memory the cache let go of back to the system, soon enough that the mount's
 * resident memory follows the cache's budget.
 *
 * Two kinds of memory lag behind: block buffers the cache drops are freed only when V8
 * collects them, which it does for buffers only after ~64 MiB more of them (measured:
 * 60 MiB of dropped buffers on top of a full 256 MiB cache while 10,000 small files
 * replaced cached blocks); and the copies LMDB makes of a writeout's pages, freed at the
 * commit into glibc's heap, which keeps them until a trim. So: a full collection once
 * the buffers dropped since the last no longer fit in what the cache's budget has left,
 * and are at least COLLECT_AFTER_BYTES (one collection takes 15-60 ms, more with more
 * files' inodes in the heap: a 64 MiB file saved as a new file twelve times, 16 MiB
 * apart, spent 5% of its time collecting with the cache a third full); and a trim once
 * TRIM_AFTER_BYTES have been written out (1-2 ms). Both run in a task of their own,
 * after the request that let go has been answered. The collection is V8's
 * memory-reducing kind, which also shrinks the young generation: creating 10,000 small
 * files after a full cache measured 5-8% slower for 40-60 MiB less (docs/BENCHMARKS.md).
 */
import { libc } from "../sys/libc.ts";
import { collectGarbage } from "../sys/v8_gc.ts";

const COLLECT_AFTER_BYTES = 16 << 20;
const TRIM_AFTER_BYTES = 8 << 20;

export interface MemoryReleaseStats {
  collections: number;
  collectMs: number;
}

export class MemoryRelease {
  private droppedBytes = 0;
  private collectDue = false;
  private writtenOutBytes = 0;
  private scheduled: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  readonly stats: MemoryReleaseStats = { collections: 0, collectMs: 0 };

  constructor(
    private readonly collect: () => void = collectGarbage,
    private readonly trim: () => void = () => libc().malloc_trim(0n),
    private readonly collectAfterBytes = COLLECT_AFTER_BYTES,
    private readonly trimAfterBytes = TRIM_AFTER_BYTES,
  ) {}

  /**
   * Buffers of `bytes` were left to the garbage collector; `room` is what the cache's
   * budget has left beyond what the cache holds.
   */
  dropped(bytes: number, room: number): void {
    this.droppedBytes += bytes;
    if (this.droppedBytes < this.collectAfterBytes || this.droppedBytes <= room) return;
    this.collectDue = true;
    this.schedule();
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
    if (this.collectDue) {
      const t = performance.now();
      this.collect();
      this.stats.collections++;
      this.stats.collectMs += performance.now() - t;
      this.droppedBytes = 0;
      this.collectDue = false;
    }
    // After a collection too: small buffers it freed go back to glibc's heap.
    this.trim();
    this.writtenOutBytes = 0;
  }
}
