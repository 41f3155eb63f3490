/**
 * Clean blocks, kept by content hash so the head and `.snapshots` share them. They are
 * never changed in place and are evicted least-recently-used first (a Map's insertion
 * order is the LRU order: a hit re-inserts).
 */
import type { BufferPool } from "./buffer_pool.ts";

export class CleanBlocks {
  private readonly blocks = new Map<string, Uint8Array>();
  /** Memory the blocks hold (whole buffers for block buffers). */
  bytes = 0;
  hits = 0;

  constructor(private readonly pool: BufferPool) {}

  get count(): number {
    return this.blocks.size;
  }

  has(key: string): boolean {
    return this.blocks.has(key);
  }

  /** A cached block, now the most recently used; counts a hit. */
  get(key: string): Uint8Array | undefined {
    const hit = this.blocks.get(key);
    if (!hit) return undefined;
    this.hits++;
    this.blocks.delete(key);
    this.blocks.set(key, hit);
    return hit;
  }

  /** Adds (or replaces) a block; the caller then evicts down to its budget. */
  add(key: string, data: Uint8Array): void {
    const old = this.blocks.get(key);
    if (old) {
      this.blocks.delete(key);
      this.bytes -= this.pool.footprint(old);
      if (old.buffer !== data.buffer) this.pool.retire(old);
    }
    this.blocks.set(key, data);
    this.bytes += this.pool.footprint(data);
  }

  /** Lets go of a block that is no longer in the store (no one can ask for it again). */
  forget(key: string): void {
    const v = this.blocks.get(key);
    if (!v) return;
    this.blocks.delete(key);
    this.bytes -= this.pool.footprint(v);
    this.pool.retire(v);
  }

  /** Evicts least recently used blocks until `bytes` is at most `limit`. */
  evictTo(limit: number): void {
    for (const [k, v] of this.blocks) {
      if (this.bytes <= limit) break;
      this.blocks.delete(k);
      this.bytes -= this.pool.footprint(v);
      this.pool.retire(v);
    }
  }
}
