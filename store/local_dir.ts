/**
 * Copying between a local directory and a store: `import` makes the head equal to a
 * directory and snapshots it; `export` writes a revision out; `restore` copies a path
 * of a revision into the head.
 *
 * Import stores new blocks in batched transactions first (harmless if interrupted:
 * unreferenced blocks are collected by gc), then changes the head and takes the
 * snapshot in one transaction, so a crash leaves the store as before or as after.
 */
import { kindOf } from "./dicts.ts";
import { lchownSync, lstatSync as nodeLstat, utimesSync } from "node:fs";
import { join } from "node:path";
import { dataExtents } from "./sparse.ts";
import { BlockStore } from "./blocks.ts";
import { type Head, splitPath } from "./head.ts";
import type { Progress, Store } from "./store.ts";
import { type BlockHash, type Ino, RevfsError, type Revision, type RevNumber, ROOT_INO } from "./types.ts";

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
}

type PlanNode =
  | Meta & { type: "file"; size: number; blocks: [number, BlockHash | null][] }
  | Meta & { type: "dir"; children: Map<string, PlanNode> }
  | Meta & { type: "symlink"; target: string };

/** New block bytes per write transaction during import. */
const BATCH_BYTES = 64 << 20;

function metaOf(st: Deno.FileInfo): Meta {
  return {
    mode: (st.mode ?? 0o644) & 0o7777,
    uid: st.uid ?? 0,
    gid: st.gid ?? 0,
    mtimeNs: st.mtime ? BigInt(st.mtime.getTime()) * 1_000_000n : 0n,
  };
}

/** mtime with the nanoseconds Deno.FileInfo drops. */
function mtimeNsOf(path: string): bigint {
  return nodeLstat(path, { bigint: true }).mtimeNs;
}

export async function importDir(store: Store, src: string, message: string, progress?: Progress): Promise<Revision> {
  const st = Deno.statSync(src);
  if (!st.isDirectory) throw new RevfsError("NOT_A_DIR", `${src} is not a directory`);
  const records = store.records;
  let pending: [Uint8Array, string][] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    records.write(() => {
      for (const [data, kind] of batch) store.blocks.put(data, kind);
    });
  };
  let totalBytes = 0;
  let doneBytes = 0;
  const countBytes = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = join(dir, e.name);
      if (e.isFile) totalBytes += Deno.lstatSync(p).size;
      else if (e.isDirectory) countBytes(p);
    }
  };
  if (progress) countBytes(src);

  const scan = async (path: string, st: Deno.FileInfo): Promise<PlanNode> => {
    const meta = { ...metaOf(st), mtimeNs: mtimeNsOf(path) };
    if (st.isSymlink) return { ...meta, type: "symlink", target: Deno.readLinkSync(path) };
    if (st.isDirectory) {
      const children = new Map<string, PlanNode>();
      const names = [...Deno.readDirSync(path)].map((e) => e.name).sort();
      for (const name of names) {
        const p = join(path, name);
        let cst: Deno.FileInfo;
        try {
          cst = Deno.lstatSync(p);
        } catch (e) {
          // Deno lists a name that is not UTF-8 with U+FFFD in it; that path then does not exist.
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          const why = name.includes("\uFFFD") ? "a name that is not valid UTF-8" : "a file that vanished";
          throw new RevfsError("INVALID", `cannot import ${p}: ${why} (nothing was imported)`);
        }
        if (!cst.isFile && !cst.isDirectory && !cst.isSymlink) {
          console.error(`revfs: skipping ${p}: not a file, directory or symlink`);
          continue;
        }
        children.set(name, await scan(p, cst));
      }
      return { ...meta, type: "dir", children };
    }
    // Only blocks that overlap data are read and listed; the rest are holes.
    const blocks: [number, BlockHash | null][] = [];
    const file = await Deno.open(path, { read: true });
    try {
      const bs = store.blockSize;
      const size = st.size;
      let idx = 0;
      for (const [start, end] of dataExtents(path, size)) {
        for (idx = Math.max(idx, Math.floor(start / bs)); idx * bs < end; idx++) {
          const want = Math.min(bs, size - idx * bs);
          const buf = new Uint8Array(want);
          await file.seek(idx * bs, Deno.SeekMode.Start);
          let n = 0;
          while (n < want) {
            const got = await file.read(buf.subarray(n));
            if (got === null) break;
            n += got;
          }
          if (n < want) throw new RevfsError("INVALID", `cannot import ${path}: it shrank while being read`);
          const h = BlockStore.hashOf(buf);
          blocks.push([idx, h]);
          if (h !== null && !store.blocks.has(h)) {
            pending.push([buf, kindOf(path)]);
            pendingBytes += n;
            if (pendingBytes >= BATCH_BYTES) flush();
          }
          doneBytes += n;
          progress?.(doneBytes, totalBytes);
        }
      }
      return { ...meta, type: "file", size, blocks };
    } finally {
      file.close();
    }
  };

  const plan = await scan(src, st);
  flush();
  if (plan.type !== "dir") throw new Error("unreachable");
  return records.write(() => {
    syncDir(store.head, ROOT_INO, plan);
    setMeta(store.head, ROOT_INO, plan);
    return store.snapshot(message);
  });
}

function setMeta(head: Head, ino: Ino, want: Meta): void {
  const i = head.mustInode(ino);
  if (i.type === "symlink") return;
  if (i.mode !== want.mode || i.uid !== want.uid || i.gid !== want.gid || i.mtimeNs !== want.mtimeNs) {
    head.setattr(ino, { mode: want.mode, uid: want.uid, gid: want.gid, mtimeNs: want.mtimeNs });
  }
}

function syncDir(head: Head, dir: Ino, plan: Extract<PlanNode, { type: "dir" }>): void {
  for (const [name] of [...head.readdir(dir)]) if (!plan.children.has(name)) head.removeTree(dir, name);
  for (const [name, want] of plan.children) {
    let ino = head.lookup(dir, name);
    if (ino !== undefined) {
      const have = head.mustInode(ino);
      const same = have.type === want.type &&
        (have.type !== "symlink" || (want.type === "symlink" && have.target === want.target &&
          have.mtimeNs === want.mtimeNs && have.uid === want.uid && have.gid === want.gid));
      if (!same) {
        head.removeTree(dir, name);
        ino = undefined;
      }
    }
    if (ino === undefined) {
      ino = head.create(dir, name, {
        type: want.type,
        mode: want.mode,
        uid: want.uid,
        gid: want.gid,
        mtimeNs: want.mtimeNs,
        target: want.type === "symlink" ? want.target : undefined,
      }).ino;
    }
    if (want.type === "file") head.setBlocks(ino, want.size, want.blocks);
    if (want.type === "dir") syncDir(head, ino, want);
    setMeta(head, ino, want);
  }
}

function isEmptyOrMissing(dir: string): boolean {
  try {
    const st = Deno.statSync(dir);
    if (!st.isDirectory) return false;
    for (const _ of Deno.readDirSync(dir)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

/**
 * Writes revision `rev` (or the head) into `dst`, which must be missing or empty. The
 * tree is written beside it and renamed into place, so `dst` is never half-written.
 */
export async function exportTree(
  store: Store,
  rev: RevNumber | "head",
  dst: string,
  progress?: Progress,
): Promise<void> {
  if (!isEmptyOrMissing(dst)) {
    throw new RevfsError("NOT_EMPTY", `${dst} is not empty; export needs an empty or missing directory`);
  }
  const view = store.view(rev);
  const tmp = `${dst.replace(/\/+$/, "")}.revfs-export-${crypto.randomUUID().slice(0, 8)}`;
  const asRoot = Deno.uid() === 0;
  let total = 0;
  let done = 0;
  if (progress) {
    const count = (p: string): void => {
      for (const [name, info] of view.list(p)) {
        if (info.type === "file") total += info.size;
        else if (info.type === "dir") count(p ? `${p}/${name}` : name);
      }
    };
    count("");
  }
  const writeNode = async (path: string, out: string) => {
    const info = view.stat(path);
    if (info.type === "symlink") {
      Deno.symlinkSync(info.target!, out);
      if (asRoot) lchownSync(out, info.uid, info.gid);
      return;
    }
    if (info.type === "dir") {
      Deno.mkdirSync(out);
      for (const [name] of view.list(path)) await writeNode(path ? `${path}/${name}` : name, join(out, name));
    } else {
      const f = await Deno.open(out, { write: true, create: true, truncate: true });
      try {
        for (const [idx, data] of view.blocks(path)) {
          await f.seek(idx * store.blockSize, Deno.SeekMode.Start);
          let off = 0;
          while (off < data.length) off += await f.write(data.subarray(off));
          done += data.length;
          progress?.(done, total);
        }
        await f.truncate(info.size);
      } finally {
        f.close();
      }
    }
    if (asRoot) Deno.chownSync(out, info.uid, info.gid);
    Deno.chmodSync(out, info.mode);
    const t = new Date(Number(info.mtimeNs / 1_000_000n));
    Deno.utimeSync(out, t, t);
    setNsTimes(out, info.mtimeNs);
  };
  try {
    await writeNode("", tmp);
    try {
      Deno.removeSync(dst);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    Deno.renameSync(tmp, dst);
  } catch (e) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // nothing to clean
    }
    throw e;
  }
}

/** Sets mtime with nanosecond precision (Deno.utime takes a Date, i.e. milliseconds). */
function setNsTimes(path: string, mtimeNs: bigint): void {
  const secs = Number(mtimeNs / 1_000_000_000n) + Number(mtimeNs % 1_000_000_000n) / 1e9;
  utimesSync(path, secs, secs);
}

/** Copies `path` as it is in `rev` into the head, replacing what the head has there. */
export function restorePath(store: Store, path: string, rev: RevNumber): void {
  const parts = splitPath(path);
  if (parts.length === 0) throw new RevfsError("INVALID", "restore needs a path inside the tree, not the root");
  const view = store.revisionView(rev);
  const entry = view.entry(path);
  store.records.write(() => {
    let dir = ROOT_INO;
    for (let k = 0; k < parts.length - 1; k++) {
      const next = store.head.lookup(dir, parts[k]);
      if (next === undefined) {
        const e = view.entry(parts.slice(0, k + 1).join("/"));
        dir =
          store.head.create(dir, parts[k], { type: "dir", mode: e.mode, uid: e.uid, gid: e.gid, mtimeNs: e.mtimeNs })
            .ino;
      } else {
        if (store.head.mustInode(next).type !== "dir") {
          throw new RevfsError("NOT_A_DIR", `${parts.slice(0, k + 1).join("/")} is not a directory in head`);
        }
        dir = next;
      }
    }
    store.head.materialize(dir, parts[parts.length - 1], entry);
  });
}
