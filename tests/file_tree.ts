/**
 * Trees of files as a test expects them: path -> node, read from a directory (a mount,
 * `.snapshots/REV`) and compared, with differences named by path and byte range.
 */
import { join } from "node:path";
import { sha256Hex } from "./helpers.ts";

export type Node = { type: "dir" } | { type: "file"; data: Uint8Array };
/** A tree: path -> node. Copies share the (never mutated) file contents. */
export type Tree = Map<string, Node>;

export function digestNode(n: Node): string {
  return n.type === "dir" ? "d" : `f:${n.data.length}:${sha256Hex(n.data)}`;
}

/** Reads a tree through the mount: every file's bytes, every directory. */
export function readTree(root: string, skipTop: string[] = []): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(root, rel))) {
      if (rel === "" && skipTop.includes(e.name)) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        out.set(r, { type: "dir" });
        walk(r);
      } else out.set(r, { type: "file", data: Deno.readFileSync(join(root, r)) });
    }
  };
  walk("");
  return out;
}

export function treeDiff(want: Tree, got: Tree): string[] {
  const out: string[] = [];
  for (const [p, w] of want) {
    const g = got.get(p);
    if (!g || digestNode(g) !== digestNode(w)) {
      out.push(`${p}: want ${describe(w)} got ${g ? describe(g, w) : "nothing"}`);
    }
  }
  for (const p of got.keys()) if (!want.has(p)) out.push(`${p}: unexpected`);
  return out;
}

/** A node for an error message; for a file that differs from `than`, where it differs. */
function describe(n: Node, than?: Node): string {
  if (n.type === "dir") return "a directory";
  if (than?.type !== "file") return `${n.data.length} bytes`;
  const a = n.data, b = than.data;
  let first = 0;
  while (first < Math.min(a.length, b.length) && a[first] === b[first]) first++;
  let last = Math.min(a.length, b.length) - 1;
  while (last > first && a[last] === b[last]) last--;
  return `${a.length} bytes, differing in [${first}, ${last}]`;
}
