/**
 * `import`: makes the head equal to a local directory and snapshots it.
 *
 * New blocks are stored in batched transactions first (harmless if interrupted:
 * unreferenced blocks are collected by gc), then the head changes and the snapshot is
 * taken in one transaction, so a crash leaves the store as before or as after.
 */
import { BlockStore } from "../blocks/block_store.ts";
import { kindOf } from "../blocks/dicts.ts";
import type { Head } from "../head/head.ts";
import { INLINE_MAX, takeSnapshot } from "../head/snapshot.ts";
import type { StoreParts } from "../parts.ts";
import {
  type BlockHash,
  type Ino,
  RevfsError,
  type Revision,
  ROOT_INO,
  type SpecialType,
  type Xattrs,
} from "../types.ts";
import { localLstat, type LocalStat } from "./local_attrs.ts";
import { dataExtents } from "./sparse.ts";
import { readLocalXattrs } from "./xattr_io.ts";
import { xattrsEqual } from "../tree/xattrs.ts";
import { localChild } from "../paths.ts";

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  xattrs: Xattrs;
}

/** A file with several names in the tree: the key of its first, for the ones after it. */
interface Linked {
  linkKey?: string;
}

type PlanNode =
  /** `small`: the bytes of a file the snapshot keeps inline, not stored as a block. */
  | Meta & Linked & { type: "file"; size: number; blocks: [number, BlockHash | null][]; small?: Uint8Array }
  | Meta & { type: "dir"; children: Map<string, PlanNode> }
  | Meta & Linked & { type: "symlink"; target: string }
  | Meta & Linked & { type: SpecialType; rdev: number }
  /** Another name of a file met earlier in the scan (a hard link), by its `linkKey`. */
  | { type: "link"; to: string };

/** A local node with several names (not a directory): its device and inode; else undefined. */
function linkKeyOf(st: LocalStat): string | undefined {
  return st.kind !== "dir" && st.nlink > 1 ? st.id : undefined;
}

/** New block bytes per write transaction during import. */
const BATCH_BYTES = 64 << 20;

function metaOf(st: LocalStat, path: string): Meta {
  return { mode: st.mode, uid: st.uid, gid: st.gid, mtimeNs: st.mtimeNs, xattrs: readLocalXattrs(path) };
}

export function importDir(
  store: StoreParts,
  src: string,
  message: string,
  progress?: (done: number, total: number) => void,
): Revision {
  let st: LocalStat;
  try {
    st = localLstat(src, true);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new RevfsError("NOT_A_DIR", `${src} is not a directory`);
    throw e;
  }
  if (st.kind !== "dir") throw new RevfsError("NOT_A_DIR", `${src} is not a directory`);
  const records = store.records;
  let pending: [Uint8Array, string][] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    records.write(() => {
      for (const [data, kind] of batch) store.head.fresh.put(data, kind);
    });
  };
  let totalBytes = 0;
  let doneBytes = 0;
  const counted = new Set<string>();
  const countBytes = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = localChild(dir, e.name);
      if (e.isDirectory) countBytes(p);
      if (!e.isFile) continue;
      const st = localLstat(p);
      // A file with several names is read once.
      const key = linkKeyOf(st);
      if (key !== undefined && counted.has(key)) continue;
      if (key !== undefined) counted.add(key);
      totalBytes += st.size;
    }
  };
  if (progress) countBytes(src);

  // Hard links: the names of one local file (device and inode) become one inode again.
  const seen = new Set<string>();
  const scan = (path: string, st: LocalStat): PlanNode => {
    let linked: Linked = {};
    const linkKey = linkKeyOf(st);
    if (linkKey !== undefined) {
      if (seen.has(linkKey)) return { type: "link", to: linkKey };
      seen.add(linkKey);
      linked = { linkKey };
    }
    const meta = { ...metaOf(st, path), ...linked };
    if (st.kind === "symlink") return { ...meta, type: "symlink", target: Deno.readLinkSync(path) };
    if (st.kind !== "file" && st.kind !== "dir") {
      return { ...meta, type: st.kind, rdev: st.kind.endsWith("dev") ? st.rdev : 0 };
    }
    if (st.kind === "dir") {
      const children = new Map<string, PlanNode>();
      const names = [...Deno.readDirSync(path)].map((e) => e.name).sort();
      for (const name of names) {
        const p = localChild(path, name);
        let cst: LocalStat;
        try {
          cst = localLstat(p);
        } catch (e) {
          // Deno lists a name that is not UTF-8 with U+FFFD in it; that path then does not exist.
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          const why = name.includes("\uFFFD") ? "a name that is not valid UTF-8" : "a file that vanished";
          throw new RevfsError("INVALID", `cannot import ${p}: ${why} (nothing was imported)`);
        }
        children.set(name, scan(p, cst));
      }
      return { ...meta, type: "dir", children };
    }
    const size = st.size;
    // A file the snapshot will keep inline in its directory page: read, named, not stored.
    if (size <= INLINE_MAX && linkKey === undefined) {
      const small = Deno.readFileSync(path);
      if (small.length !== size) throw new RevfsError("INVALID", `cannot import ${path}: it changed while being read`);
      const h = BlockStore.hashOf(small);
      doneBytes += size;
      progress?.(doneBytes, totalBytes);
      return { ...meta, type: "file", size, blocks: h === null ? [] : [[0, h]], small };
    }
    // Only blocks that overlap data are read and listed; the rest are holes.
    const blocks: [number, BlockHash | null][] = [];
    const file = Deno.openSync(path, { read: true });
    try {
      const bs = store.blockSize;
      let idx = 0;
      for (const [start, end] of size <= bs ? [[0, size]] : dataExtents(path, size)) {
        for (idx = Math.max(idx, Math.floor(start / bs)); idx * bs < end; idx++) {
          const want = Math.min(bs, size - idx * bs);
          const buf = new Uint8Array(want);
          file.seekSync(idx * bs, Deno.SeekMode.Start);
          let n = 0;
          while (n < want) {
            const got = file.readSync(buf.subarray(n));
            if (got === null || got === 0) break;
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

  const plan = scan(src, st);
  flush();
  if (plan.type !== "dir") throw new Error("unreachable");
  return records.write(() => {
    const synced: Synced = { byKey: new Map(), claimed: new Set(), small: new Map(), created: new Set() };
    syncDir(store.head, ROOT_INO, plan, synced);
    setMeta(store.head, ROOT_INO, plan);
    return takeSnapshot(store, message, { imported: { small: synced.small, created: synced.created } });
  });
}

function setMeta(head: Head, ino: Ino, want: Meta): void {
  const i = head.inodes.must(ino);
  if (!xattrsEqual(i.xattrs, want.xattrs)) {
    const keep = new Set(want.xattrs.map(([n]) => n));
    for (const [name] of i.xattrs ?? []) if (!keep.has(name)) head.names.setXattr(ino, name, null, "either");
    for (const [name, value] of want.xattrs) head.names.setXattr(ino, name, value, "either");
  }
  if (i.type === "symlink") return;
  if (i.mode !== want.mode || i.uid !== want.uid || i.gid !== want.gid || i.mtimeNs !== want.mtimeNs) {
    head.names.setattr(ino, { mode: want.mode, uid: want.uid, gid: want.gid, mtimeNs: want.mtimeNs });
  }
}

/**
 * What one import has synced: the inode of each hard-linked file, every inode it reused,
 * small files' bytes, and the small files it created (no overlay slot set).
 */
interface Synced {
  byKey: Map<string, Ino>;
  claimed: Set<Ino>;
  small: Map<Ino, Uint8Array>;
  created: Set<Ino>;
}

function syncDir(head: Head, dir: Ino, plan: Extract<PlanNode, { type: "dir" }>, synced: Synced): void {
  for (const [name] of [...head.inodes.readdir(dir)]) if (!plan.children.has(name)) head.names.removeTree(dir, name);
  for (const [name, want] of plan.children) {
    let ino = head.inodes.lookup(dir, name);
    if (want.type === "link") {
      const target = synced.byKey.get(want.to)!;
      if (ino === target) continue;
      if (ino !== undefined) head.names.removeTree(dir, name);
      head.names.link(target, dir, name);
      continue;
    }
    if (ino !== undefined) {
      const have = head.inodes.must(ino);
      // An inode this import already gave other content (it had another name here) is not reused.
      const same = !synced.claimed.has(ino) && have.type === want.type &&
        (have.type !== "symlink" || (want.type === "symlink" && have.target === want.target &&
          have.mtimeNs === want.mtimeNs && have.uid === want.uid && have.gid === want.gid)) &&
        (!("rdev" in have) || ("rdev" in want && have.rdev === want.rdev));
      if (!same) {
        head.names.removeTree(dir, name);
        ino = undefined;
      }
    }
    const created = ino === undefined;
    if (ino === undefined) {
      // Made whole in one record where it can be: attributes and xattrs now, the size and
      // mtime with the blocks; the directory's times are set after its last child.
      ino = head.names.create(dir, name, {
        type: want.type,
        mode: want.mode,
        uid: want.uid,
        gid: want.gid,
        mtimeNs: want.mtimeNs,
        target: want.type === "symlink" ? want.target : undefined,
        rdev: "rdev" in want ? want.rdev : undefined,
        xattrs: want.xattrs,
        size: want.type === "file" ? want.size : undefined,
      }, false).ino;
    }
    synced.claimed.add(ino);
    if (want.type !== "dir" && want.linkKey !== undefined) synced.byKey.set(want.linkKey, ino);
    if (want.type === "file") {
      // A new small file's bytes go to the snapshot only: no overlay slot to set and clear.
      head.files.setBlocks(ino, want.size, created && want.small ? [] : want.blocks, want.mtimeNs, created);
      if (want.small) synced.small.set(ino, want.small);
      if (want.small && created) synced.created.add(ino);
    }
    if (want.type === "dir") syncDir(head, ino, want, synced);
    setMeta(head, ino, want);
  }
}
