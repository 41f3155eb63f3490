/**
 * Blocks only the head holds (table `fresh`): blocks a head write created since the
 * last snapshot, each with the number of overlay slots that name it. When that number
 * drops to zero (the slot was written again, truncated away, or its file deleted) the
 * block is deleted in the same transaction. No revision can hold such a block (only a
 * snapshot makes revisions, and it empties this table), no delta is based on one (only
 * a snapshot decides deltas, on blocks of the revision it makes), and every other head
 * reference is an overlay slot, counted here. So a file rewritten again and again
 * between snapshots, as a database is, does not grow the store, as ZFS frees a block no
 * snapshot holds when it is overwritten.
 *
 * `import` stores a batch of blocks before the files that name them (count 0 until
 * then); what an interrupted import left is no longer counted after the next snapshot,
 * and `gc` frees it. Methods must run inside a write transaction.
 */
import type { BlockStore } from "../blocks/block_store.ts";
import { Reader, Writer } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import type { BlockHash } from "../types.ts";

export class FreshBlocks {
  private readonly freedListeners = new Set<(hash: BlockHash) => void>();

  constructor(private readonly records: RecordStore, private readonly blocks: BlockStore) {}

  /** Calls `listener` with each block this deletes (a cache forgets it); returns the way to stop. */
  onFreed(listener: (hash: BlockHash) => void): () => void {
    this.freedListeners.add(listener);
    return () => this.freedListeners.delete(listener);
  }

  /** Stores a block for a head write; one new to the store starts fresh, held by no slot yet. */
  put(data: Uint8Array, kind: string): BlockHash | null {
    const { hash, created } = this.blocks.add(data, kind);
    if (hash && created) this.set(hash, 0);
    return hash;
  }

  /** An overlay slot now names `hash`. */
  ref(hash: BlockHash): void {
    const n = this.count(hash);
    if (n !== undefined) this.set(hash, n + 1);
  }

  /** An overlay slot no longer names `hash`: a fresh block no slot names is deleted. */
  unref(hash: BlockHash): void {
    const n = this.count(hash);
    if (n === undefined) return;
    if (n > 1) return this.set(hash, n - 1);
    this.free(hash);
  }

  /** Deletes a fresh block no slot names (stored, then found equal to what the file had). */
  dropIfUnheld(hash: BlockHash): void {
    if (this.count(hash) !== 0) return;
    this.free(hash);
  }

  /** A snapshot: every fresh block is now held by the new revision. */
  clear(): void {
    for (const k of [...this.records.keys("fresh")]) this.records.del("fresh", k);
  }

  private free(hash: BlockHash): void {
    this.records.del("fresh", hash);
    this.blocks.remove(hash);
    for (const listener of this.freedListeners) listener(hash);
  }

  private count(hash: BlockHash): number | undefined {
    const v = this.records.get("fresh", hash);
    return v === undefined ? undefined : new Reader(v, "fresh block count").uint();
  }

  private set(hash: BlockHash, n: number): void {
    this.records.put("fresh", hash, new Writer().uint(n).finish());
  }
}
