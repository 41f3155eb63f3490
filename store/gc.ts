/** Garbage collection: delete every page and block no live revision or the head reaches. */
import type { Head } from "./head.ts";
import type { PageStore } from "./pages.ts";
import type { RecordStore, Table } from "./records.ts";
import { hashKey, Reachable } from "./reachability.ts";
import type { RevisionLog } from "./revisions.ts";

export interface GcResult {
  pagesRemoved: number;
  blocksRemoved: number;
  bytesFreed: number;
}

/** Deletes in transactions of this many records, so a huge sweep never holds one giant txn. */
const SWEEP_BATCH = 10_000;

export function collectGarbage(
  records: RecordStore,
  pages: PageStore,
  log: RevisionLog,
  head: Head,
  progress: (done: number, total: number) => void = () => {},
): GcResult {
  const live = Reachable.of(records, pages, log, head);
  const result: GcResult = { pagesRemoved: 0, blocksRemoved: 0, bytesFreed: 0 };
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
