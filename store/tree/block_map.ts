/**
 * A file's block map: a copy-on-write radix tree of pages from block index to block
 * hash. Leaves hold up to FANOUT block hashes; inner pages hold up to FANOUT child
 * pages. A null slot is a hole (all zeros). Changing one block of a file rewrites one
 * leaf and its ancestors: two pages for a file of up to 16 GiB at 64 KiB blocks.
 *
 * Shape is canonical: the root's level is the smallest that covers the block count,
 * and trailing null slots are trimmed, so equal maps are equal pages. A map whose only
 * slot is block 0 is no page at all: its root is that block (store/tree/map_root.ts).
 */
import type { PageStore } from "./pages.ts";
import { type BlockHash, type MapRoot, type PageHash, RevfsError } from "../types.ts";
import { oneBlockOf, oneBlockRoot } from "./map_root.ts";

export const FANOUT = 512;

/** Level of the root page for a file of `count` blocks. */
export function levelFor(count: number): number {
  let level = 0;
  let cover = FANOUT;
  while (cover < count) {
    cover *= FANOUT;
    level++;
  }
  return level;
}

/** Block edits for `update`: index to new hash (null: hole). */
export type BlockEdits = Map<number, BlockHash | null>;

export class BlockMaps {
  constructor(private readonly pages: PageStore) {}

  private level(root: MapRoot): number {
    if (oneBlockOf(root)) return 0;
    const p = this.pages.get(root as PageHash);
    if (p.kind === "bmleaf") return 0;
    if (p.kind === "bminner") return p.level;
    throw new RevfsError("CORRUPT", `block map page is a ${p.kind} page`);
  }

  lookup(root: MapRoot | null, index: number): BlockHash | null {
    if (root === null) return null;
    const one = oneBlockOf(root);
    if (one) return index === 0 ? one : null;
    let hash: PageHash | null = root as PageHash;
    let level = this.level(root);
    if (index >= FANOUT ** (level + 1)) return null;
    while (hash !== null) {
      const p = this.pages.get(hash);
      if (p.kind === "bmleaf") return p.slots[index % FANOUT] ?? null;
      if (p.kind !== "bminner") throw new RevfsError("CORRUPT", `block map page is a ${p.kind} page`);
      const span = FANOUT ** level;
      hash = p.slots[Math.floor(index / span)] ?? null;
      index %= span;
      level--;
    }
    return null;
  }

  /** Every non-hole block, in index order. */
  *present(root: MapRoot | null): Iterable<[number, BlockHash]> {
    if (root === null) return;
    const one = oneBlockOf(root);
    if (one) yield [0, one];
    else yield* this.walk(root as PageHash, 0);
  }

  private *walk(hash: PageHash, base: number): Iterable<[number, BlockHash]> {
    const p = this.pages.get(hash);
    if (p.kind === "bmleaf") {
      for (let i = 0; i < p.slots.length; i++) {
        const h = p.slots[i];
        if (h) yield [base + i, h];
      }
    } else if (p.kind === "bminner") {
      const span = FANOUT ** p.level;
      for (let i = 0; i < p.slots.length; i++) {
        const h = p.slots[i];
        if (h) yield* this.walk(h, base + i * span);
      }
    } else throw new RevfsError("CORRUPT", `block map page is a ${p.kind} page`);
  }

  /** Every page of a map, for gc and verify. */
  *pagesOf(root: MapRoot | null): Iterable<PageHash> {
    if (root === null || oneBlockOf(root)) return;
    const page = root as PageHash;
    yield page;
    const p = this.pages.get(page);
    if (p.kind === "bminner") { for (const h of p.slots) if (h) yield* this.pagesOf(h); }
  }

  /**
   * A new map: blocks at and past `keep` are dropped from `root`, then `edits` are
   * applied, for a file of `count` blocks. Unchanged subtrees keep their pages.
   * Must run inside a write transaction.
   */
  update(root: MapRoot | null, keep: number, edits: BlockEdits, count: number): MapRoot | null {
    keep = Math.min(keep, count);
    const sorted = [...edits].filter(([i]) => i < count).sort((a, b) => a[0] - b[0]);
    const target = levelFor(count);
    let level = root === null ? target : this.level(root);
    while (root !== null && level < target) {
      root = this.pages.put({ kind: "bminner", level: level + 1, slots: [this.asPage(root)] });
      level++;
    }
    while (root !== null && level > target) {
      const p = this.pages.get(root as PageHash);
      root = p.kind === "bminner" ? p.slots[0] ?? null : null;
      level--;
    }
    if (target > 0) return this.rewrite(root as PageHash | null, target, 0, sorted, keep);
    const slots = this.editLeaf(root, 0, sorted, keep);
    if (slots.length === 1 && slots[0] !== null) return oneBlockRoot(slots[0]);
    return slots.length === 0 ? null : this.pages.put({ kind: "bmleaf", slots });
  }

  /** The page a root stands for: a one-block root becomes a leaf (its file grew). */
  private asPage(root: MapRoot): PageHash {
    const one = oneBlockOf(root);
    return one ? this.pages.put({ kind: "bmleaf", slots: [one] }) : root as PageHash;
  }

  /** A leaf's slots after dropping those at and past `keep` and applying `edits`, trimmed. */
  private editLeaf(
    root: MapRoot | null,
    base: number,
    edits: [number, BlockHash | null][],
    keep: number,
  ): (BlockHash | null)[] {
    const one = root === null ? undefined : oneBlockOf(root);
    const page = root === null || one ? null : this.pages.get(root as PageHash);
    const slots: (BlockHash | null)[] = one ? [one] : page?.kind === "bmleaf" ? page.slots.slice() : [];
    if (keep < base + FANOUT) slots.length = Math.min(slots.length, Math.max(0, keep - base));
    for (const [i, h] of edits) {
      while (slots.length <= i - base) slots.push(null);
      slots[i - base] = h;
    }
    trimNulls(slots);
    return slots;
  }

  private rewrite(
    hash: PageHash | null,
    level: number,
    base: number,
    edits: [number, BlockHash | null][],
    keep: number,
  ): PageHash | null {
    const span = FANOUT ** (level + 1);
    if (edits.length === 0 && keep >= base + span) return hash;
    if (level === 0) {
      const slots = this.editLeaf(hash, base, edits, keep);
      return slots.length === 0 ? null : this.pages.put({ kind: "bmleaf", slots });
    }
    const page = hash === null ? null : this.pages.get(hash);
    const slots: (PageHash | null)[] = page?.kind === "bminner" ? page.slots.slice() : [];
    const childSpan = FANOUT ** level;
    const touched = new Map<number, [number, BlockHash | null][]>();
    for (const e of edits) {
      const c = Math.floor((e[0] - base) / childSpan);
      let group = touched.get(c);
      if (!group) touched.set(c, group = []);
      group.push(e);
    }
    for (let c = Math.max(0, Math.floor((keep - base) / childSpan)); c < slots.length; c++) {
      if (slots[c] !== null && !touched.has(c)) touched.set(c, []);
    }
    for (const [c, group] of touched) {
      while (slots.length <= c) slots.push(null);
      slots[c] = this.rewrite(slots[c], level - 1, base + c * childSpan, group, keep);
    }
    trimNulls(slots);
    return slots.length === 0 ? null : this.pages.put({ kind: "bminner", level, slots });
  }
}

function trimNulls<T>(a: (T | null)[]): void {
  while (a.length > 0 && a[a.length - 1] === null) a.pop();
}
