/** Garbage collection: delete every page and block no live revision or the head reaches. */
import { deltaBaseOf } from "../blocks/block_codec.ts";
import { hashKey } from "../blocks/hash.ts";
import type { BlockHash } from "../types.ts";
import type { StoreParts } from "../parts.ts";
import type { Table } from "../records/records.ts";
import { Reachable } from "./reachability.ts";

export interface GcResult {
  pagesRemoved: number;
  blocksRemoved: number;
  bytesFreed: number;
  /** Delta records stored whole because their base went away. */
  storedWhole: number;
}

/** Deletes in transactions of this many records, so a huge sweep never holds one giant txn. */
const SWEEP_BATCH = 10_000;
const REENCODE_BATCH = 1000;

export function collectGarbage(
  parts: StoreParts,
  progress: (done: number, total: number) => void = () => {},
): GcResult {
  const { records, pages, blocks, log, head } = parts;
  const live = Reachable.of(records, pages, log, head);
  const result: GcResult = { pagesRemoved: 0, blocksRemoved: 0, bytesFreed: 0, storedWhole: 0 };
  // A live delta whose base nothing else needs is stored whole first (committed before
  // any delete), so its base can go.
  if (live.baseOnly.size > 0) {
    const orphaned: BlockHash[] = [];
    for (const [k, v] of records.range("blocks")) {
      const base = deltaBaseOf(v);
      if (base && live.blocks.has(hashKey(k)) && live.baseOnly.has(hashKey(base))) {
        orphaned.push(k.slice() as BlockHash);
      }
    }
    for (let i = 0; i < orphaned.length; i += REENCODE_BATCH) {
      records.write(() => {
        for (const h of orphaned.slice(i, i + REENCODE_BATCH)) blocks.storeWhole(h);
      });
    }
    result.storedWhole = orphaned.length;
  }
  const total = records.count("pages") + records.count("blocks");
  let done = 0;
  const sweep = (table: Table, keep: Set<string>): number => {
    const dead: [Uint8Array, number][] = [];
    for (const [k, v] of records.range(table)) {
      if (!keep.has(hashKey(k))) dead.push([k.slice(), k.length + v.length]);
      if (++done % 4096 === 0) progress(done, total);
    }
    for (let i = 0; i < dead.length; i += SWEEP_BATCH) {
      records.write(() => {
        for (const [k, n] of dead.slice(i, i + SWEEP_BATCH)) {
          records.del(table, k);
          if (table === "blocks") records.del("chains", k);
          result.bytesFreed += n;
        }
      });
    }
    return dead.length;
  };
  // Everything swept is unreachable, so a crash anywhere in here leaves a valid store.
  result.blocksRemoved = sweep("blocks", live.blocks);
  result.pagesRemoved = sweep("pages", live.pages);
  progress(total, total);
  return result;
}
