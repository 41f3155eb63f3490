/**
 * A reference model for tree tests: a plain temp directory changed by random
 * operations, and a capture of its exact state (content hashes and metadata) to
 * compare a revision's export against.
 */
import { lstatSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { type Rng, sha256Hex } from "./helpers.ts";

export interface NodeState {
  type: "file" | "dir" | "symlink";
  mode: number;
  size: number;
  sha?: string;
  target?: string;
  mtimeNs?: bigint;
}

export type TreeState = Map<string, NodeState>;

/** Reads the whole state of a directory tree. Symlink mode and mtime are not compared. */
export function captureTree(root: string, skipTop: string[] = []): TreeState {
  const out: TreeState = new Map();
  const walk = (dir: string, rel: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (rel === "" && skipTop.includes(e.name)) continue;
      const p = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = lstatSync(p, { bigint: true });
      const mode = Number(st.mode & 0o7777n);
      if (st.isSymbolicLink()) out.set(r, { type: "symlink", mode: 0, size: 0, target: Deno.readLinkSync(p) });
      else if (st.isDirectory()) {
        out.set(r, { type: "dir", mode, size: 0, mtimeNs: st.mtimeNs });
        walk(p, r);
      } else {
        out.set(r, {
          type: "file",
          mode,
          size: Number(st.size),
          sha: sha256Hex(Deno.readFileSync(p)),
          mtimeNs: st.mtimeNs,
        });
      }
    }
  };
  walk(root, "");
  return out;
}

/** A capture without modification times, for trees whose times were set by different writers. */
export function withoutTimes(t: TreeState): TreeState {
  return new Map([...t].map(([p, n]) => [p, { ...n, mtimeNs: undefined }]));
}

/** Differences between two captures, as readable lines (empty when equal). */
export function compareTrees(want: TreeState, got: TreeState): string[] {
  const problems: string[] = [];
  for (const [p, w] of want) {
    const g = got.get(p);
    if (!g) {
      problems.push(`missing ${p}`);
      continue;
    }
    const { mtimeNs: wm, ...wr } = w;
    const { mtimeNs: gm, ...gr } = g;
    if (JSON.stringify(wr) !== JSON.stringify(gr)) {
      problems.push(`${p}: want ${JSON.stringify(wr)} got ${JSON.stringify(gr)}`);
    }
    // Export sets times through a double of seconds: allow a microsecond of rounding.
    if (wm !== undefined && (gm === undefined || (wm > gm ? wm - gm : gm - wm) > 1000n)) {
      problems.push(`${p}: mtime want ${wm} got ${gm}`);
    }
  }
  for (const p of got.keys()) if (!want.has(p)) problems.push(`unexpected ${p}`);
  return problems;
}

const MODES = [0o644, 0o600, 0o755, 0o444, 0o640];

function listAll(root: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(root, rel))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        dirs.push(r);
        walk(r);
      } else if (e.isFile) files.push(r);
    }
  };
  walk("");
  return { files: files.sort(), dirs: dirs.sort() };
}

let nameCounter = 0;
function freshName(rng: Rng, prefix: string): string {
  return `${prefix}${nameCounter++}_${rng.int(1000)}${rng.pick([".txt", ".bin", ".json", ""])}`;
}

function randomSize(rng: Rng): number {
  const r = rng.next();
  if (r < 0.1) return 0;
  if (r < 0.7) return rng.int(20_000);
  if (r < 0.93) return 20_000 + rng.int(300_000);
  return 1_000_000 + rng.int(2_500_000);
}

function writeNew(rng: Rng, path: string): void {
  newFileWriter(rng)(path);
}

/** Draws a new file's content and modes, and returns what writes it at a path. */
function newFileWriter(rng: Rng): (path: string) => void {
  const size = randomSize(rng);
  const data = rng.bytes(size, rng.chance(0.6) ? "text" : "binary");
  const mode = rng.pick(MODES);
  const finalMode = rng.pick(MODES);
  return (path) => {
    Deno.writeFileSync(path, data, { mode });
    Deno.chmodSync(path, finalMode);
  };
}

/** A random starting tree: nested directories, files of 0 bytes to a few MiB, symlinks. */
export function seedTree(rng: Rng, root: string, files = 30): void {
  const dirs = [""];
  for (let i = 0; i < 6; i++) {
    const parent = rng.pick(dirs);
    const d = parent ? `${parent}/${freshName(rng, "d")}` : freshName(rng, "d");
    Deno.mkdirSync(join(root, d));
    dirs.push(d);
  }
  for (let i = 0; i < files; i++) writeNew(rng, join(root, rng.pick(dirs), freshName(rng, "f")));
  for (let i = 0; i < 3; i++) {
    Deno.symlinkSync(freshName(rng, "target"), join(root, rng.pick(dirs), freshName(rng, "l")));
  }
}

export type EditKind =
  | "small-edit"
  | "append"
  | "truncate"
  | "extend"
  | "rename"
  | "rename-dir"
  | "delete"
  | "delete-dir"
  | "identical-rewrite"
  | "create"
  | "mkdir"
  | "symlink"
  | "chmod"
  | "touch"
  | "copy";

const EDITS: EditKind[] = [
  "small-edit",
  "small-edit",
  "small-edit",
  "append",
  "append",
  "truncate",
  "extend",
  "rename",
  "rename-dir",
  "delete",
  "delete-dir",
  "identical-rewrite",
  "create",
  "create",
  "mkdir",
  "symlink",
  "chmod",
  "touch",
  "copy",
];

/**
 * Applies one random edit; returns what it did. Given several roots holding the same
 * tree, the same edit (same names, same bytes) is applied to each, in order.
 */
export function randomEdit(rng: Rng, roots: string | string[]): string {
  const all = typeof roots === "string" ? [roots] : roots;
  const { kind, apply } = drawEdit(rng, all[0]);
  for (const root of all) apply(root);
  return kind;
}

type Edit = { kind: string; apply: (root: string) => void };

/** Draws an edit against the tree at `root` without applying it. */
function drawEdit(rng: Rng, root: string): Edit {
  const { files, dirs } = listAll(root);
  const kind = rng.pick(EDITS);
  const anyDir = () => dirs.length && rng.chance(0.8) ? rng.pick(dirs) : "";
  const at = (rel: string) => (r: string) => join(r, rel);
  if (files.length === 0 && !["create", "mkdir", "symlink"].includes(kind)) {
    const path = at(join(anyDir(), freshName(rng, "f")));
    const write = newFileWriter(rng);
    return { kind: "create", apply: (r) => write(path(r)) };
  }
  const rel = files.length ? rng.pick(files) : "";
  const file = at(rel);
  const size = rel ? Deno.statSync(join(root, rel)).size : 0;
  switch (kind) {
    case "small-edit": {
      const pos = rng.int(Math.max(1, size));
      const data = rng.bytes(1 + rng.int(4000), "text");
      return {
        kind,
        apply: (r) => {
          const f = Deno.openSync(file(r), { write: true });
          f.seekSync(pos, Deno.SeekMode.Start);
          f.writeSync(data);
          f.close();
        },
      };
    }
    case "append": {
      const data = rng.bytes(1 + rng.int(100_000), "text");
      return { kind, apply: (r) => Deno.writeFileSync(file(r), data, { append: true }) };
    }
    case "truncate": {
      const to = rng.int(size + 1);
      return { kind, apply: (r) => Deno.truncateSync(file(r), to) };
    }
    case "extend": {
      const to = size + rng.int(200_000);
      return { kind, apply: (r) => Deno.truncateSync(file(r), to) };
    }
    case "rename": {
      const to = at(join(anyDir(), freshName(rng, "r")));
      return { kind, apply: (r) => Deno.renameSync(file(r), to(r)) };
    }
    case "rename-dir": {
      if (dirs.length === 0) return drawEdit(rng, root);
      const d = rng.pick(dirs);
      const parents = dirs.filter((x) => x !== d && !x.startsWith(d + "/"));
      const into = parents.length && rng.chance(0.5) ? rng.pick(parents) : "";
      const to = at(join(into, freshName(rng, "rd")));
      return { kind, apply: (r) => Deno.renameSync(join(r, d), to(r)) };
    }
    case "delete":
      return { kind, apply: (r) => Deno.removeSync(file(r)) };
    case "delete-dir": {
      if (dirs.length < 3) return drawEdit(rng, root);
      const d = at(rng.pick(dirs));
      return { kind, apply: (r) => Deno.removeSync(d(r), { recursive: true }) };
    }
    case "identical-rewrite":
      return { kind, apply: (r) => Deno.writeFileSync(file(r), Deno.readFileSync(file(r))) };
    case "create": {
      const path = at(join(anyDir(), freshName(rng, "f")));
      const write = newFileWriter(rng);
      return { kind, apply: (r) => write(path(r)) };
    }
    case "mkdir": {
      const d = at(join(anyDir(), freshName(rng, "d")));
      return { kind, apply: (r) => Deno.mkdirSync(d(r)) };
    }
    case "symlink": {
      const target = rng.pick(["../x", "target", "a/b/c", "/abs/path"]);
      const l = at(join(anyDir(), freshName(rng, "l")));
      return { kind, apply: (r) => Deno.symlinkSync(target, l(r)) };
    }
    case "chmod": {
      const mode = rng.pick(MODES);
      return { kind, apply: (r) => Deno.chmodSync(file(r), mode) };
    }
    case "touch": {
      const secs = 1_600_000_000 + rng.int(100_000_000) + rng.int(1_000_000) / 1e6;
      return { kind, apply: (r) => utimesSync(file(r), secs, secs) };
    }
    case "copy": {
      const to = at(join(anyDir(), freshName(rng, "c")));
      return { kind, apply: (r) => Deno.copyFileSync(file(r), to(r)) };
    }
  }
  throw new Error(`unknown edit ${kind}`);
}

/** Small files of two kinds (JSON-like records, prose), as a source tree has. */
export function writeRecordTree(rng: Rng, dir: string, files: number): void {
  Deno.mkdirSync(`${dir}/data`, { recursive: true });
  Deno.mkdirSync(`${dir}/docs`, { recursive: true });
  const words = ["alpha", "beta", "gamma", "revfs", "block", "store", "delta", "chain", "mount", "page", "tree"];
  for (let i = 0; i < files; i++) {
    const rows = Array.from(
      { length: 20 + rng.int(150) },
      () =>
        `{"id": ${rng.int(100000)}, "name": "${rng.pick(words)}", "tags": ["${rng.pick(words)}", "${
          rng.pick(words)
        }"], "ok": ${rng.chance(0.5)}}`,
    );
    Deno.writeTextFileSync(`${dir}/data/r${i}.json`, rows.join("\n"));
    Deno.writeFileSync(`${dir}/docs/n${i}.txt`, rng.bytes(2000 + rng.int(20000), "text"));
  }
}
