/** Garbage collection: delete every page and block no live revision or the head reaches. */
import { deltaBaseOf } from "../blocks/block_codec.ts";
import { hashKey } from "../blocks/hash.ts";
import type { BlockHash, PageHash } from "../types.ts";
import { pageDeltaBaseOf } from "../tree/pages.ts";
import type { StoreParts } from "../parts.ts";
import type { Table } from "../records/records.ts";
import { Reachable } from "./reachability.ts";
import { MAX_DELTA_DEPTH, pageChainKey } from "../blocks/chains.ts";

export interface GcResult {
  pagesRemoved: number;
  blocksRemoved: number;
  bytesFreed: number;
  /** Delta records (blocks and pages) re-encoded because their base went away: whole, or on the next kept version. */
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
  // A live delta whose base nothing else needs is re-encoded first (committed before
  // any delete), so its base can go: whole, then as a delta again on the first live
  // block down its old chain (the next kept version), so dropping a revision does not
  // turn its neighbours' history whole.
  if (live.baseOnly.size > 0) {
    const orphaned: [BlockHash, BlockHash | undefined][] = [];
    const liveBelow = (base: Uint8Array): BlockHash | undefined => {
      for (let h: Uint8Array | undefined = base, n = 0; h !== undefined && n <= MAX_DELTA_DEPTH + 1; n++) {
        if (live.blocks.has(hashKey(h))) return h.slice() as BlockHash;
        const v = records.get("blocks", h);
        h = v && deltaBaseOf(v);
      }
      return undefined;
    };
    for (const [k, v] of records.range("blocks")) {
      const base = deltaBaseOf(v);
      if (base && live.blocks.has(hashKey(k)) && live.baseOnly.has(hashKey(base))) {
        orphaned.push([k.slice() as BlockHash, liveBelow(base)]);
      }
    }
    for (let i = 0; i < orphaned.length; i += REENCODE_BATCH) {
      records.write(() => {
        for (const [h, rebase] of orphaned.slice(i, i + REENCODE_BATCH)) {
          blocks.storeWhole(h);
          if (rebase) blocks.supersede(h, rebase);
        }
      });
    }
    result.storedWhole = orphaned.length;
  }
  // The same for pages: a live delta page on a page no revision or the head reaches is
  // stored whole, then made a delta again on the first live page down its old chain
  // (the next kept version of that directory or map), so dropping a revision does not
  // turn its neighbours' history whole.
  if (live.pageBases.size > 0) {
    const orphaned: [PageHash, PageHash | undefined][] = [];
    const liveBelow = (base: Uint8Array): PageHash | undefined => {
      for (let h: Uint8Array | undefined = base, n = 0; h !== undefined && n <= MAX_DELTA_DEPTH + 1; n++) {
        if (live.pages.has(hashKey(h))) return h.slice() as PageHash;
        const v = records.get("pages", h);
        h = v && pageDeltaBaseOf(v);
      }
      return undefined;
    };
    for (const [k, v] of records.range("pages")) {
      const base = pageDeltaBaseOf(v);
      if (base && live.pages.has(hashKey(k)) && !live.pages.has(hashKey(base))) {
        orphaned.push([k.slice() as PageHash, liveBelow(base)]);
      }
    }
    for (let i = 0; i < orphaned.length; i += REENCODE_BATCH) {
      records.write(() => {
        for (const [h, rebase] of orphaned.slice(i, i + REENCODE_BATCH)) {
          pages.storeWhole(h);
          if (rebase) pages.supersede(h, rebase);
        }
      });
    }
    result.storedWhole += orphaned.length;
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
          records.del("chains", table === "blocks" ? k : pageChainKey(k));
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
