/**
 * Walks everything live revisions and the head can reach: the mark phase of gc,
 * shared by stats. Shared pages are visited once, so the cost is O(unique pages).
 */
import { deltaBaseOf } from "./block_codec.ts";
import { hashKey } from "./hash.ts";
import type { Head } from "./head.ts";
import type { PageStore } from "./pages.ts";
import type { RecordStore } from "./records.ts";
import type { RevisionLog } from "./revisions.ts";
import { type BlockHash, type PageHash, RevfsError } from "./types.ts";

export class Reachable {
  readonly pages = new Set<string>();
  /** Blocks a revision or the head refers to. */
  readonly blocks = new Set<string>();
  /** Blocks kept only because a delta record in `blocks` is based on them. */
  readonly baseOnly = new Map<string, BlockHash>();

  constructor(private readonly records: RecordStore, private readonly pageStore: PageStore) {}

  static of(records: RecordStore, pages: PageStore, log: RevisionLog, head: Head): Reachable {
    const r = new Reachable(records, pages);
    for (const rev of log.all()) r.dir(rev.root.content);
    for (const ref of head.references()) {
      if (ref.kind === "file") r.map(ref.root);
      else if (ref.kind === "dir") r.dir(ref.root);
      else r.block(ref.hash);
    }
    return r;
  }

  dir(hash: PageHash | null): void {
    if (hash === null || !this.mark(hash)) return;
    const p = this.pageStore.get(hash);
    if (p.kind === "dirinner") { for (const c of p.children) this.dir(c?.page ?? null); }
    else if (p.kind === "dirleaf") {
      for (const [, e] of p.entries) {
        if (e.type === "file") this.map(e.content);
        else if (e.type === "dir") this.dir(e.content);
      }
    } else throw new RevfsError("CORRUPT", `directory page is a ${p.kind} page`);
  }

  map(hash: PageHash | null): void {
    if (hash === null || !this.mark(hash)) return;
    const p = this.pageStore.get(hash);
    if (p.kind === "bminner") {
      for (const c of p.slots) this.map(c);
    } else if (p.kind === "bmleaf") {
      for (const b of p.slots) if (b) this.block(b);
    } else {
      throw new RevfsError("CORRUPT", `block map page is a ${p.kind} page`);
    }
  }

  block(hash: BlockHash, asBase = false): void {
    const k = hashKey(hash);
    if (this.blocks.has(k)) return;
    if (asBase) {
      if (this.baseOnly.has(k)) return;
      this.baseOnly.set(k, hash);
    } else {
      this.blocks.add(k);
      this.baseOnly.delete(k);
    }
    // A delta record needs its base: keep the base alive with it.
    const v = this.records.get("blocks", hash);
    const base = v && deltaBaseOf(v);
    if (base) this.block(base.slice() as BlockHash, true);
  }

  private mark(hash: PageHash): boolean {
    const k = hashKey(hash);
    if (this.pages.has(k)) return false;
    this.pages.add(k);
    return true;
  }
}
