/**
 * Walks everything live revisions and the head can reach: the mark phase of gc,
 * shared by stats. Shared pages are visited once, so the cost is O(unique pages).
 */
import { deltaBaseOf } from "../blocks/block_codec.ts";
import { hashKey } from "../blocks/hash.ts";
import type { Head } from "../head/head.ts";
import { pageDeltaBaseOf, type PageStore } from "../tree/pages.ts";
import type { RecordStore } from "../records/records.ts";
import type { RevisionLog } from "../tree/revisions.ts";
import { type BlockHash, type MapRoot, type PageHash, RevfsError } from "../types.ts";
import { oneBlockOf } from "../tree/map_root.ts";

export class Reachable {
  /** Pages a revision or the head reaches (walked). */
  readonly pages = new Set<string>();
  /** Pages kept only because a delta page in `pages` (or in here) is based on them. */
  readonly pageBases = new Set<string>();
  /** Blocks a revision or the head refers to. */
  readonly blocks = new Set<string>();
  /** Blocks kept only because a delta record in `blocks` is based on them. */
  readonly baseOnly = new Map<string, BlockHash>();
  /** Called for each record the walk reaches for the first time (a page, or a block, a base included). */
  onFirstVisit?: (table: "pages" | "blocks", key: Uint8Array) => void;

  constructor(private readonly records: RecordStore, private readonly pageStore: PageStore) {}

  static of(records: RecordStore, pages: PageStore, log: RevisionLog, head: Head): Reachable {
    const r = new Reachable(records, pages);
    for (const rev of log.all()) r.dir(rev.root.content);
    r.head(head);
    return r;
  }

  /** What the head needs beyond what revisions hold: its inodes' bases and its overlay blocks. */
  head(head: Head): void {
    for (const i of head.inodes.all()) {
      if (i.type === "file") this.map(i.base);
      else if (i.type === "dir") this.dir(i.base);
    }
    for (const [, v] of this.records.range("overlay")) if (v.length !== 0) this.block(v.slice() as BlockHash);
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

  map(root: MapRoot | null): void {
    if (root === null) return;
    const one = oneBlockOf(root);
    if (one) return this.block(one);
    const hash = root as PageHash;
    if (!this.mark(hash)) return;
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
    const seen = this.baseOnly.has(k);
    if (asBase) {
      if (seen) return;
      this.baseOnly.set(k, hash);
    } else {
      this.blocks.add(k);
      this.baseOnly.delete(k);
    }
    if (!seen) this.onFirstVisit?.("blocks", hash);
    // A delta record needs its base: keep the base alive with it.
    const v = this.records.get("blocks", hash);
    const base = v && deltaBaseOf(v);
    if (base) this.block(base.slice() as BlockHash, true);
  }

  /** Marks a page reached by a walk; false when it was walked already. */
  private mark(hash: PageHash): boolean {
    const k = hashKey(hash);
    if (this.pages.has(k)) return false;
    this.pages.add(k);
    // Kept already as another page's delta base: reached now, but not new.
    if (!this.pageBases.delete(k)) this.firstVisit(hash);
    return true;
  }

  /** Keeps a page alive because a delta page is based on it (it need not be walked). */
  private keepPageBase(hash: PageHash): void {
    const k = hashKey(hash);
    if (this.pages.has(k) || this.pageBases.has(k)) return;
    this.pageBases.add(k);
    this.firstVisit(hash);
  }

  private firstVisit(hash: PageHash): void {
    this.onFirstVisit?.("pages", hash);
    // A page stored as a delta needs its base page to read: keep the base alive with it.
    const v = this.records.get("pages", hash);
    const base = v && pageDeltaBaseOf(v);
    if (base) this.keepPageBase(base.slice() as PageHash);
  }
}
