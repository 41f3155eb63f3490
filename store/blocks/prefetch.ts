/**
 * Blocks about to be read, their records asked of the disk first: where the store reads
 * ahead itself, the records and those down their delta chains are asked for a level at
 * a time, every chain's record at that level together. A chain's records can only be
 * found one after another (each names its base), and read that way each waits for the
 * disk alone: the oldest of 50 versions of a 64 MiB file took 1.6x the kernel's
 * read-around. Never throws: a record that cannot be read is left to the read to report.
 *
 * "top": the records named and no more. Finding a record's base reads its first page,
 * so following chains waits for the disk at each record; a caller that must not wait
 * (the request thread) asks for the top level only. "ahead": the same, found on helper
 * threads (RecordStore.askAhead), as finding even a record's key may read a B-tree leaf
 * from disk; where there are none, as "top".
 */
import { deltaBaseOf } from "./block_codec.ts";
import type { RecordStore } from "../records/records.ts";
import type { BlockHash, PrefetchDepth } from "../types.ts";

export function prefetchRecords(records: RecordStore, hashes: readonly BlockHash[], depth: PrefetchDepth): void {
  if (depth === "ahead" && records.askAhead("blocks", hashes)) return;
  const chains = depth === "chains";
  let level: readonly Uint8Array[] = hashes;
  try {
    // A valid chain is bounded (store/blocks/chains.ts); the bound stops a cycle too.
    for (let depth = 0; level.length > 0 && depth <= 64; depth++) {
      const stored = records.prefetch("blocks", level);
      if (!stored || !chains) return;
      const bases: Uint8Array[] = [];
      for (const s of stored) {
        const base = s && deltaBaseOf(s);
        if (base) bases.push(base.slice());
      }
      level = bases;
    }
  } catch {
    // Reported by the read that needs the record.
  }
}
