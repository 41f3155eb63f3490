/**
 * Differences between two revisions by path. Directory pages equal in both are
 * skipped, so the cost follows the difference, not the tree.
 */
import type { DirTrees } from "./dir_tree.ts";
import type { DirEntry, Entry } from "../types.ts";

export type ChangeKind = "added" | "deleted" | "modified" | "type-changed";

export interface Change {
  path: string;
  kind: ChangeKind;
  before: Entry | null;
  after: Entry | null;
}

export function diffTrees(dirs: DirTrees, a: DirEntry, b: DirEntry): Change[] {
  const out: Change[] = [];
  walk(dirs, a.content, b.content, "", out);
  return out;
}

function walk(dirs: DirTrees, a: DirEntry["content"], b: DirEntry["content"], prefix: string, out: Change[]): void {
  for (const c of dirs.diff(a, b)) {
    const path = prefix + c.name;
    const { before, after } = c;
    if (before && after && before.type === after.type) {
      // Only metadata or content below changed: report the file, or descend.
      if (before.type === "dir" && after.type === "dir") {
        if (before.mode !== after.mode || before.uid !== after.uid || before.gid !== after.gid) {
          out.push({ path, kind: "modified", before, after });
        }
        walk(dirs, before.content, after.content, path + "/", out);
      } else out.push({ path, kind: "modified", before, after });
      continue;
    }
    if (before && after) out.push({ path, kind: "type-changed", before, after });
    else out.push({ path, kind: before ? "deleted" : "added", before, after });
    // Everything below an added or removed directory changed with it.
    if (before?.type === "dir" && after?.type !== "dir") walk(dirs, before.content, null, path + "/", out);
    if (after?.type === "dir" && before?.type !== "dir") walk(dirs, null, after.content, path + "/", out);
  }
}
