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
export function captureTree(root: string): TreeState {
  const out: TreeState = new Map();
  const walk = (dir: string, rel: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
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
  const size = randomSize(rng);
  Deno.writeFileSync(path, rng.bytes(size, rng.chance(0.6) ? "text" : "binary"), { mode: rng.pick(MODES) });
  Deno.chmodSync(path, rng.pick(MODES));
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

/** Applies one random edit; returns what it did. */
export function randomEdit(rng: Rng, root: string): string {
  const { files, dirs } = listAll(root);
  const kind = rng.pick(EDITS);
  const anyDir = () => dirs.length && rng.chance(0.8) ? rng.pick(dirs) : "";
  if (files.length === 0 && !["create", "mkdir", "symlink"].includes(kind)) {
    writeNew(rng, join(root, anyDir(), freshName(rng, "f")));
    return "create";
  }
  const file = files.length ? join(root, rng.pick(files)) : "";
  switch (kind) {
    case "small-edit": {
      const size = Deno.statSync(file).size;
      const f = Deno.openSync(file, { write: true });
      const at = rng.int(Math.max(1, size));
      f.seekSync(at, Deno.SeekMode.Start);
      f.writeSync(rng.bytes(1 + rng.int(4000), "text"));
      f.close();
      break;
    }
    case "append":
      Deno.writeFileSync(file, rng.bytes(1 + rng.int(100_000), "text"), { append: true });
      break;
    case "truncate":
      Deno.truncateSync(file, rng.int(Deno.statSync(file).size + 1));
      break;
    case "extend":
      Deno.truncateSync(file, Deno.statSync(file).size + rng.int(200_000));
      break;
    case "rename": {
      const to = join(root, anyDir(), freshName(rng, "r"));
      Deno.renameSync(file, to);
      break;
    }
    case "rename-dir": {
      if (dirs.length === 0) return randomEdit(rng, root);
      const d = rng.pick(dirs);
      const parents = dirs.filter((x) => x !== d && !x.startsWith(d + "/"));
      const into = parents.length && rng.chance(0.5) ? rng.pick(parents) : "";
      Deno.renameSync(join(root, d), join(root, into, freshName(rng, "rd")));
      break;
    }
    case "delete":
      Deno.removeSync(file);
      break;
    case "delete-dir": {
      if (dirs.length < 3) return randomEdit(rng, root);
      Deno.removeSync(join(root, rng.pick(dirs)), { recursive: true });
      break;
    }
    case "identical-rewrite":
      Deno.writeFileSync(file, Deno.readFileSync(file));
      break;
    case "create":
      writeNew(rng, join(root, anyDir(), freshName(rng, "f")));
      break;
    case "mkdir":
      Deno.mkdirSync(join(root, anyDir(), freshName(rng, "d")));
      break;
    case "symlink":
      Deno.symlinkSync(rng.pick(["../x", "target", "a/b/c", "/abs/path"]), join(root, anyDir(), freshName(rng, "l")));
      break;
    case "chmod":
      Deno.chmodSync(file, rng.pick(MODES));
      break;
    case "touch": {
      const secs = 1_600_000_000 + rng.int(100_000_000) + rng.int(1_000_000) / 1e6;
      utimesSync(file, secs, secs);
      break;
    }
    case "copy":
      Deno.copyFileSync(file, join(root, anyDir(), freshName(rng, "c")));
      break;
  }
  return kind;
}
