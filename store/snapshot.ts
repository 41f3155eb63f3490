/**
 * Turning the head into an immutable revision. Only names marked in `dirty` are
 * visited: each changed file's overlay is folded into a new block map, each changed
 * directory gets a copy-on-write update of its tree, deepest first, up to the root.
 * Cost is O(changed files, blocks and names), not O(tree).
 */
import { readU64, utf8d } from "./codec.ts";
import type { DirEdits, DirTrees } from "./dir_tree.ts";
import type { Head } from "./head.ts";
import type { Inode } from "./inode.ts";
import type { RecordStore } from "./records.ts";
import type { RevisionLog } from "./revisions.ts";
import { type DirEntry, type Entry, type Ino, RevfsError, type Revision, ROOT_INO } from "./types.ts";

function entrySize(e: Entry | null): number {
  return e === null || e.type === "symlink" ? 0 : e.size;
}

function entryOf(i: Inode): Entry {
  const meta = { mode: i.mode, uid: i.uid, gid: i.gid, mtimeNs: i.mtimeNs };
  switch (i.type) {
    case "file":
      return { ...meta, type: "file", size: i.size, content: i.base };
    case "dir":
      return { ...meta, type: "dir", size: i.baseBytes, content: i.base };
    case "symlink":
      return { ...meta, type: "symlink", target: i.target };
  }
}

/** Takes a snapshot inside the current write transaction. */
export function commitHead(
  records: RecordStore,
  head: Head,
  dirs: DirTrees,
  log: RevisionLog,
  parent: number,
  message: string,
): Revision {
  return records.write(() => {
    const dirty = new Map<Ino, Set<string>>();
    const add = (p: Ino, name: string) => {
      let s = dirty.get(p);
      if (!s) dirty.set(p, s = new Set());
      s.add(name);
    };
    for (const k of records.keys("dirty")) add(readU64(k) as Ino, utf8d.decode(k.subarray(8)));

    // A changed directory is a changed name in its parent, up to the root.
    const depth = new Map<Ino, number>([[ROOT_INO, 0]]);
    const depthOf = (ino: Ino): number => {
      const known = depth.get(ino);
      if (known !== undefined) return known;
      const i = head.inode(ino);
      const d = !i || i.parent === 0 ? -1 : depthOf(i.parent) < 0 ? -1 : depthOf(i.parent) + 1;
      depth.set(ino, d);
      return d;
    };
    for (const p of [...dirty.keys()]) {
      for (let ino = p; ino !== ROOT_INO && depthOf(ino) > 0;) {
        const i = head.mustInode(ino);
        add(i.parent as Ino, i.name);
        ino = i.parent as Ino;
      }
    }

    const order = [...dirty.keys()].filter((p) => depthOf(p) >= 0).sort((a, b) => depthOf(b) - depthOf(a));
    for (const p of order) {
      const dir = head.inode(p);
      if (!dir || dir.type !== "dir") continue;
      const edits: DirEdits = new Map();
      for (const name of dirty.get(p)!) {
        const child = head.lookup(p, name);
        if (child === undefined) {
          edits.set(name, null);
          continue;
        }
        let i = head.mustInode(child);
        if (i.type === "file") i = head.commitFile(i);
        edits.set(name, entryOf(i));
      }
      const { root, before } = dirs.update(dir.base, edits);
      let bytes = dir.baseBytes;
      for (const [name, old] of before) bytes += entrySize(edits.get(name) ?? null) - entrySize(old);
      head.save({ ...dir, base: root, baseBytes: bytes });
    }
    for (const k of [...records.keys("dirty")]) records.del("dirty", k);

    const root = head.mustInode(ROOT_INO);
    if (root.type !== "dir") throw new RevfsError("CORRUPT", "head root is not a directory");
    return log.append(parent, message, entryOf(root) as DirEntry);
  });
}
