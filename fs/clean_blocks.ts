/**
 * Clean blocks, kept by content hash so the head and `.snapshots` share them. They are
 * never changed in place. Two least-recently-used lists (a segmented LRU): a block comes
 * in on probation and is protected at its second use (a block loaded or written out
 * ahead of its first read is not used yet); probation holds at most `probationBytes`
 * and is evicted first. Blocks used once (a random reader's of a large file, those of
 * a file written and not read back: the kernel keeps its own copy of what it read or
 * wrote) then neither fill the budget nor push out blocks asked for again (a
 * database's, whose partial writes need the rest of their block). A Map's insertion
 * order is its LRU order: a hit re-inserts.
 */
import type { BufferPool } from "./buffer_pool.ts";

export class CleanBlocks {
  private readonly probation = new Map<string, Uint8Array>();
  private readonly protected = new Map<string, Uint8Array>();
  /** Blocks on probation not used yet: their first `get` leaves them there. */
  private readonly unused = new Set<string>();
  private probationHeld = 0;
  /** Memory the blocks hold (whole buffers for block buffers). */
  bytes = 0;
  hits = 0;

  constructor(private readonly pool: BufferPool, private readonly probationBytes: number) {}

  get count(): number {
    return this.probation.size + this.protected.size;
  }

  has(key: string): boolean {
    return this.protected.has(key) || this.probation.has(key);
  }

  /** A cached block, now the most recently used (and protected, if used before); counts a hit. */
  get(key: string): Uint8Array | undefined {
    let hit = this.protected.get(key);
    if (hit) {
      this.protected.delete(key);
      this.protected.set(key, hit);
    } else {
      hit = this.probation.get(key);
      if (!hit) return undefined;
      this.probation.delete(key);
      if (this.unused.delete(key)) {
        this.probation.set(key, hit);
      } else {
        this.probationHeld -= this.pool.footprint(hit);
        this.protected.set(key, hit);
      }
    }
    this.hits++;
    return hit;
  }

  /**
   * Adds (or replaces) a block, on probation unless it was protected; `used`: the caller
   * uses it now (else its first `get` is its first use). The caller then evicts down to
   * its budget.
   */
  add(key: string, data: Uint8Array, used: boolean): void {
    const wasProtected = this.protected.has(key);
    this.forget(key, data.buffer);
    if (wasProtected) {
      this.protected.set(key, data);
    } else {
      this.probation.set(key, data);
      this.probationHeld += this.pool.footprint(data);
      if (!used) this.unused.add(key);
    }
    this.bytes += this.pool.footprint(data);
  }

  /**
   * Lets go of a block that is no longer in the store (no one can ask for it again), or
   * one a reader has passed. Its buffer is retired unless it is `keeping`'s.
   */
  forget(key: string, keeping?: ArrayBufferLike): void {
    const inProbation = this.probation.get(key);
    const v = inProbation ?? this.protected.get(key);
    if (!v) return;
    if (inProbation) {
      this.probation.delete(key);
      this.unused.delete(key);
      this.probationHeld -= this.pool.footprint(v);
    } else {
      this.protected.delete(key);
    }
    this.bytes -= this.pool.footprint(v);
    if (v.buffer !== keeping) this.pool.retire(v);
  }

  /**
   * Evicts until probation holds at most its share and `bytes` is at most `limit`:
   * least recently used first, from probation before protected blocks.
   */
  evictTo(limit: number): void {
    for (const k of this.probation.keys()) {
      if (this.probationHeld <= this.probationBytes && this.bytes <= limit) break;
      this.forget(k);
    }
    for (const k of this.protected.keys()) {
      if (this.bytes <= limit) break;
      this.forget(k);
    }
  }
}
