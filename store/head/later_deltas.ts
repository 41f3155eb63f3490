/**
 * The reverse deltas a snapshot decided on (store/head/snapshot.ts), made now or later.
 *
 * Making them, zstd with the newer version as the dictionary, was a third of a mount's
 * own time for a snapshot of 1-4 edited source files (1.3 of 4.8 ms, by profile). So a
 * mount's snapshot leaves them here and asks for them after it has replied. Until they
 * are made the older versions stay whole: every read gives the same bytes, and a crash
 * before then costs only space (`optimize` makes deltas of history stored whole).
 *
 * Every version named here is held by a revision (the snapshot just taken or its
 * parent), and revisions are dropped and collected only through the store, which makes
 * what is queued first. The next snapshot makes them before its own, in the order the
 * deltas would have been made at once. An older version the head writes again before
 * its delta is made (a rare coincidence in the moments after a reply) stays a delta:
 * it reads the same, through its chain.
 */
import type { BlockStore } from "../blocks/block_store.ts";
import { supersedeTree } from "../tree/page_history.ts";
import type { PageStore } from "../tree/pages.ts";
import type { BlockHash, PageHash } from "../types.ts";

type Job =
  | { kind: "block"; older: BlockHash; newer: BlockHash; near: BlockHash[] }
  | { kind: "tree"; older: PageHash; newer: PageHash };

export class LaterDeltas {
  private jobs: Job[] = [];

  constructor(private readonly blocks: BlockStore, private readonly pages: PageStore) {}

  /** Block `older` is to become a delta on `newer` (or on a neighbour of it). */
  block(older: BlockHash, newer: BlockHash, near: BlockHash[]): void {
    this.jobs.push({ kind: "block", older, newer, near });
  }

  /** The tree of pages under `older` is to become deltas on the one under `newer`. */
  tree(older: PageHash, newer: PageHash): void {
    this.jobs.push({ kind: "tree", older, newer });
  }

  /** Drops every queued job (the transaction that queued them was undone). */
  forget(): void {
    this.jobs = [];
  }

  get pending(): number {
    return this.jobs.length;
  }

  /**
   * Makes every queued delta; inside a write transaction. Jobs leave the queue before
   * they run: if one fails (and its transaction is undone), those not made are dropped
   * and their older versions stay whole.
   */
  make(): void {
    const jobs = this.jobs;
    this.jobs = [];
    for (const j of jobs) {
      if (j.kind === "block") this.blocks.supersede(j.older, j.newer, j.near);
      else supersedeTree(this.pages, j.older, j.newer);
    }
  }
}
