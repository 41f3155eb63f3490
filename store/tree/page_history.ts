/**
 * History of tree pages: the page a newer tree replaced becomes a reverse delta on the
 * page that replaced it (store/tree/pages.ts, `supersede`). Used by snapshots, and by
 * `optimize` for history written before pages had deltas.
 */
import { bytesEqual } from "../blocks/hash.ts";
import type { DirTrees } from "./dir_tree.ts";
import type { PageStore } from "./pages.ts";
import type { PageHash } from "../types.ts";
import { mapPageOf } from "./map_root.ts";

/**
 * Reverse deltas for tree pages: the page a snapshot replaced (a directory's or a block
 * map's previous root, and below it the inner pages on the changed paths) becomes a
 * delta on the page that replaced it. Two versions of a directory page differ in an
 * entry or two, so history costs that, not a page of hashes per snapshot.
 */
export function supersedeTree(pages: PageStore, older: PageHash, newer: PageHash): void {
  if (bytesEqual(older, newer)) return;
  const a = pages.get(older);
  const b = pages.get(newer);
  pages.supersede(older, newer);
  if (a.kind === "bminner" && b.kind === "bminner" && a.level === b.level) {
    for (let i = 0; i < Math.min(a.slots.length, b.slots.length); i++) {
      const x = a.slots[i], y = b.slots[i];
      if (x !== null && y !== null) supersedeTree(pages, x, y);
    }
  } else if (a.kind === "dirinner" && b.kind === "dirinner") {
    for (let i = 0; i < a.children.length; i++) {
      const x = a.children[i]?.page, y = b.children[i]?.page;
      if (x !== undefined && y !== undefined) supersedeTree(pages, x, y);
    }
  }
}

/**
 * Page deltas between two whole trees (a revision and the next): each directory trie and
 * each file's block map that changed between them, found by path, has its older pages
 * made deltas on the newer ones. Directory pages equal in both are skipped.
 */
export function supersedeTrees(pages: PageStore, dirs: DirTrees, older: PageHash | null, newer: PageHash | null): void {
  if (older === null || newer === null || bytesEqual(older, newer)) return;
  supersedeTree(pages, older, newer);
  for (const c of dirs.diff(older, newer)) {
    const a = c.before, b = c.after;
    if (a?.type === "dir" && b?.type === "dir") supersedeTrees(pages, dirs, a.content, b.content);
    else if (a?.type === "file" && b?.type === "file") {
      const older = mapPageOf(a.content), newer = mapPageOf(b.content);
      if (older !== undefined && newer !== undefined) supersedeTree(pages, older, newer);
    }
  }
}
