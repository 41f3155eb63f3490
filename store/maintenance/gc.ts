/** Garbage collection: delete every page and block no live revision or the head reaches. */
import { deltaBaseOf } from "../blocks/block_codec.ts";
import { hashKey } from "../blocks/hash.ts";
import type { BlockHash, PageHash } from "../types.ts";
import { pageDeltaBaseOf } from "../tree/pages.ts";
import type { StoreParts } from "../parts.ts";
import type { Table } from "../records/records.ts";
import { Reachable } from "./reachability.ts";
import { blockChainKey, MAX_DELTA_DEPTH, MAX_PAGE_DELTA_DEPTH, pageChainKey, pruneChains } from "../blocks/chains.ts";

export interface GcResult {
  pagesRemoved: number;
  blocksRemoved: number;
  bytesFreed: number;
  /** Delta records (blocks and pages) re-encoded because their base went away: whole, or on the next kept version. */
  storedWhole: number;
  /** `chains` entries of records that are deltas (kept before format 9) or gone. */
  chainsPruned: number;
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
  const result: GcResult = { pagesRemoved: 0, blocksRemoved: 0, bytesFreed: 0, storedWhole: 0, chainsPruned: 0 };
  // A live delta (block or page) whose base nothing else needs is re-encoded first
  // (committed before any delete), so its base can go.
  result.storedWhole = rebaseOrphans(records, {
    table: "blocks",
    live: live.blocks,
    baseOnly: live.baseOnly.size,
    baseOf: deltaBaseOf,
    storeWhole: (h) => blocks.storeWhole(h as BlockHash),
    supersede: (h, base) => blocks.supersede(h as BlockHash, base as BlockHash),
  });
  result.storedWhole += rebaseOrphans(records, {
    table: "pages",
    live: live.pages,
    baseOnly: live.pageBases.size,
    baseOf: pageDeltaBaseOf,
    storeWhole: (h) => pages.storeWhole(h as PageHash),
    supersede: (h, base) => pages.supersede(h as PageHash, base as PageHash),
  });
  const total = records.count("pages") + records.count("blocks");
  let done = 0;
  // The chain keys of the whole records kept, gathered by the sweep: every other `chains`
  // entry (of a record swept, or of a delta, kept by stores before format 9) goes after it.
  const wholeKeys = new Set<string>();
  const sweep = (table: Table, keep: Set<string>): number => {
    const dead: [Uint8Array, number][] = [];
    const isDelta = table === "blocks" ? deltaBaseOf : pageDeltaBaseOf;
    const chainKey = table === "blocks" ? blockChainKey : pageChainKey;
    for (const [k, v] of records.range(table)) {
      if (!keep.has(hashKey(k))) dead.push([k.slice(), k.length + v.length]);
      else if (!isDelta(v)) wholeKeys.add(hashKey(chainKey(k)));
      if (++done % 4096 === 0) progress(done, total);
    }
    for (let i = 0; i < dead.length; i += SWEEP_BATCH) {
      records.write(() => {
        for (const [k, n] of dead.slice(i, i + SWEEP_BATCH)) {
          records.del(table, k);
          result.bytesFreed += n;
        }
      });
    }
    return dead.length;
  };
  // Everything swept is unreachable, so a crash anywhere in here leaves a valid store.
  result.blocksRemoved = sweep("blocks", live.blocks);
  result.pagesRemoved = sweep("pages", live.pages);
  result.chainsPruned = records.write(() => pruneChains(records, wholeKeys, hashKey));
  progress(total, total);
  return result;
}

/** Delta records of one table, and how to re-encode them. */
interface DeltaKind {
  table: Table;
  /** Keys of the records revisions and the head reach. */
  live: Set<string>;
  /** Records kept only as bases: with none, no delta can lose its base and the table is not scanned. */
  baseOnly: number;
  baseOf(record: Uint8Array): Uint8Array | undefined;
  storeWhole(hash: Uint8Array): void;
  supersede(hash: Uint8Array, base: Uint8Array): number;
}

/**
 * Re-encodes every live delta whose base is not live: whole, then as a delta again on
 * the first live record down its old chain (the next kept version), so dropping a
 * revision does not turn its neighbours' history whole. Returns how many.
 */
function rebaseOrphans(records: StoreParts["records"], k: DeltaKind): number {
  if (k.baseOnly === 0) return 0;
  const liveBelow = (base: Uint8Array): Uint8Array | undefined => {
    const hops = k.table === "pages" ? MAX_PAGE_DELTA_DEPTH : MAX_DELTA_DEPTH;
    for (let h: Uint8Array | undefined = base, n = 0; h !== undefined && n <= hops + 1; n++) {
      if (k.live.has(hashKey(h))) return h.slice();
      const v = records.get(k.table, h);
      h = v && k.baseOf(v);
    }
    return undefined;
  };
  const orphaned: [Uint8Array, Uint8Array | undefined][] = [];
  for (const [key, v] of records.range(k.table)) {
    const base = k.baseOf(v);
    if (base && k.live.has(hashKey(key)) && !k.live.has(hashKey(base))) orphaned.push([key.slice(), liveBelow(base)]);
  }
  for (let i = 0; i < orphaned.length; i += REENCODE_BATCH) {
    records.write(() => {
      for (const [h, rebase] of orphaned.slice(i, i + REENCODE_BATCH)) {
        k.storeWhole(h);
        if (rebase) k.supersede(h, rebase);
      }
    });
  }
  return orphaned.length;
}
