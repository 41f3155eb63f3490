/**
 * A directory of a revision: a copy-on-write hash trie of pages (HAMT). A directory
 * of at most LEAF_MAX names is one leaf page of sorted entries; a larger one is an
 * inner page with 16 children chosen by the next 4 bits of SHA-256(name). Changing
 * one name rewrites one leaf and its ancestors, about log16(n/LEAF_MAX) + 1 pages.
 *
 * Shape depends only on the set of names, never on the order of edits, so two
 * revisions share every page whose names are equal and `diff` skips them.
 */
import { xattrsEqual } from "./xattrs.ts";
import { bytesEqual, sha256 } from "../blocks/hash.ts";
import { utf8Bytes } from "../codec.ts";
import type { DirChild, PageStore } from "./pages.ts";
import { type Entry, type PageHash, RevfsError } from "../types.ts";

export const LEAF_MAX = 64;
const WIDTH = 16;
/** Depth at which names share all 64 hashed bits; leaves there are never split. */
const MAX_DEPTH = 16;

export type DirEdits = Map<string, Entry | null>;

export interface DirChange {
  name: string;
  before: Entry | null;
  after: Entry | null;
}

function nibble(name: string, depth: number): number {
  const h = sha256(utf8Bytes(name));
  const b = h[depth >> 1];
  return depth & 1 ? b & 15 : b >> 4;
}

function byName(a: [string, Entry], b: [string, Entry]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

export function entriesEqual(a: Entry | null, b: Entry | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.mtimeNs !== b.mtimeNs || !xattrsEqual(a.xattrs, b.xattrs)) return false;
  if (a.type === "symlink") return a.target === (b as typeof a).target;
  if (a.type !== "file" && a.type !== "dir") return a.rdev === (b as typeof a).rdev;
  const o = b as typeof a;
  if (a.type === "file" && (a.inline || (o as typeof a).inline)) {
    const bi = (o as typeof a).inline;
    return a.inline !== undefined && bi !== undefined && bytesEqual(a.inline, bi);
  }
  return a.size === o.size && hashesEqual(a.content, o.content);
}

function hashesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null ? a === b : bytesEqual(a, b);
}

export class DirTrees {
  constructor(private readonly pages: PageStore) {}

  lookup(root: PageHash | null, name: string): Entry | null {
    let hash = root;
    let depth = 0;
    while (hash !== null) {
      const p = this.pages.get(hash);
      if (p.kind === "dirleaf") {
        const found = p.entries.find(([n]) => n === name);
        return found ? found[1] : null;
      }
      if (p.kind !== "dirinner") throw new RevfsError("CORRUPT", `directory page is a ${p.kind} page`);
      hash = p.children[nibble(name, depth)]?.page ?? null;
      depth++;
    }
    return null;
  }

  /** All entries, sorted by name. */
  list(root: PageHash | null): [string, Entry][] {
    const out: [string, Entry][] = [];
    this.collect(root, out);
    return out.sort(byName);
  }

  count(root: PageHash | null): number {
    if (root === null) return 0;
    const p = this.pages.get(root);
    if (p.kind === "dirleaf") return p.entries.length;
    if (p.kind === "dirinner") return p.children.reduce((n, c) => n + (c?.count ?? 0), 0);
    throw new RevfsError("CORRUPT", `directory page is a ${p.kind} page`);
  }

  private collect(hash: PageHash | null, out: [string, Entry][]): void {
    if (hash === null) return;
    const p = this.pages.get(hash);
    if (p.kind === "dirleaf") out.push(...p.entries);
    else if (p.kind === "dirinner") { for (const c of p.children) this.collect(c?.page ?? null, out); }
    else throw new RevfsError("CORRUPT", `directory page is a ${p.kind} page`);
  }

  /** Every page of a directory (not of its subdirectories), for gc and verify. */
  *pagesOf(root: PageHash | null): Iterable<PageHash> {
    if (root === null) return;
    yield root;
    const p = this.pages.get(root);
    if (p.kind === "dirinner") { for (const c of p.children) if (c) yield* this.pagesOf(c.page); }
  }

  /** Builds a directory from scratch. Inside a write transaction. */
  build(entries: [string, Entry][]): PageHash | null {
    return this.buildAt(entries, 0).hash;
  }

  /**
   * Applies `edits` (null removes a name). Returns the new root, and what each
   * edited name held before. Inside a write transaction.
   */
  update(root: PageHash | null, edits: DirEdits): { root: PageHash | null; before: Map<string, Entry | null> } {
    const before = new Map<string, Entry | null>();
    const r = this.rewrite(root, 0, [...edits], before);
    return { root: r.hash, before };
  }

  private buildAt(entries: [string, Entry][], depth: number): { hash: PageHash | null; count: number } {
    if (entries.length === 0) return { hash: null, count: 0 };
    if (entries.length <= LEAF_MAX || depth >= MAX_DEPTH) {
      return { hash: this.pages.put({ kind: "dirleaf", entries: entries.sort(byName) }), count: entries.length };
    }
    const groups: [string, Entry][][] = Array.from({ length: WIDTH }, () => []);
    for (const e of entries) groups[nibble(e[0], depth)].push(e);
    const children = groups.map((g): DirChild | null => {
      const c = this.buildAt(g, depth + 1);
      return c.hash === null ? null : { page: c.hash, count: c.count };
    });
    return { hash: this.pages.put({ kind: "dirinner", depth, children }), count: entries.length };
  }

  private rewrite(
    hash: PageHash | null,
    depth: number,
    edits: [string, Entry | null][],
    before: Map<string, Entry | null>,
  ): { hash: PageHash | null; count: number } {
    const page = hash === null ? null : this.pages.get(hash);
    if (page === null || page.kind === "dirleaf") {
      const entries = new Map(page?.entries ?? []);
      for (const [name, e] of edits) {
        before.set(name, entries.get(name) ?? null);
        if (e === null) entries.delete(name);
        else entries.set(name, e);
      }
      return this.buildAt([...entries], depth);
    }
    if (page.kind !== "dirinner") throw new RevfsError("CORRUPT", `directory page is a ${page.kind} page`);
    const groups = new Map<number, [string, Entry | null][]>();
    for (const e of edits) {
      const n = nibble(e[0], depth);
      let g = groups.get(n);
      if (!g) groups.set(n, g = []);
      g.push(e);
    }
    const children = page.children.slice();
    for (const [n, g] of groups) {
      const c = this.rewrite(children[n]?.page ?? null, depth + 1, g, before);
      children[n] = c.hash === null ? null : { page: c.hash, count: c.count };
    }
    const count = children.reduce((s, c) => s + (c?.count ?? 0), 0);
    if (count <= LEAF_MAX) {
      const all: [string, Entry][] = [];
      for (const c of children) this.collect(c?.page ?? null, all);
      return this.buildAt(all, depth);
    }
    return { hash: this.pages.put({ kind: "dirinner", depth, children }), count };
  }

  /** Names whose entries differ between two directories; O(difference) on shared pages. */
  diff(a: PageHash | null, b: PageHash | null): DirChange[] {
    const out: DirChange[] = [];
    this.diffAt(a, b, out);
    return out.sort((x, y) => x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  }

  private diffAt(a: PageHash | null, b: PageHash | null, out: DirChange[]): void {
    if (hashesEqual(a, b)) return;
    const pa = a === null ? null : this.pages.get(a);
    const pb = b === null ? null : this.pages.get(b);
    if (pa?.kind === "dirinner" && pb?.kind === "dirinner") {
      for (let i = 0; i < WIDTH; i++) this.diffAt(pa.children[i]?.page ?? null, pb.children[i]?.page ?? null, out);
      return;
    }
    const ea: [string, Entry][] = [];
    const eb: [string, Entry][] = [];
    this.collect(a, ea);
    this.collect(b, eb);
    const mb = new Map(eb);
    for (const [name, e] of ea) {
      const other = mb.get(name) ?? null;
      mb.delete(name);
      if (!entriesEqual(e, other)) out.push({ name, before: e, after: other });
    }
    for (const [name, e] of mb) out.push({ name, before: null, after: e });
  }
}
