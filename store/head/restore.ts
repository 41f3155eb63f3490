/**
 * `restore`: makes a path of the head hold what it held in a revision. A file shares
 * the revision's block map (no data is copied); a directory is recreated name by name.
 * Runs inside the caller's write transaction.
 */
import type { BlockStore } from "../blocks/block_store.ts";
import { kindOf } from "../blocks/dicts.ts";
import { checkName, splitPath } from "../paths.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import type { DirTrees } from "../tree/dir_tree.ts";
import { RevisionView } from "../tree/tree_view.ts";
import { type Entry, type Ino, RevfsError, type Revision, ROOT_INO } from "../types.ts";
import type { Head } from "./head.ts";
import type { Inode } from "./inode.ts";
import { nowNs } from "./inodes.ts";

export interface RestoreParts {
  head: Head;
  blocks: BlockStore;
  maps: BlockMaps;
  dirs: DirTrees;
}

/** Copies `path` as it is in `rev` into the head, replacing what the head has there. */
export function restorePath(p: RestoreParts, rev: Revision, path: string): void {
  const parts = splitPath(path);
  if (parts.length === 0) throw new RevfsError("INVALID", "restore needs a path inside the tree, not the root");
  const view = new RevisionView(rev, p.dirs, p.maps, p.blocks);
  const entry = view.entry(path);
  const { inodes, names } = p.head;
  let dir = ROOT_INO;
  for (let k = 0; k < parts.length - 1; k++) {
    const next = inodes.lookup(dir, parts[k]);
    const at = parts.slice(0, k + 1).join("/");
    if (next === undefined) {
      const e = view.entry(at);
      dir = names.create(dir, parts[k], { type: "dir", mode: e.mode, uid: e.uid, gid: e.gid, mtimeNs: e.mtimeNs }).ino;
    } else {
      if (inodes.must(next).type !== "dir") {
        throw new RevfsError("NOT_A_DIR", "is not a directory in head", { path: at });
      }
      dir = next;
    }
  }
  materialize(p, dir, parts[parts.length - 1], entry);
}

/**
 * Makes `name` in `parent` hold what `entry` holds in a revision, replacing what was
 * there. O(number of names below `entry`).
 */
export function materialize(p: RestoreParts, parent: Ino, name: string, entry: Entry): Inode {
  checkName(name);
  const dir = p.head.inodes.dir(parent);
  if (p.head.inodes.lookup(parent, name) !== undefined) p.head.names.removeTree(parent, name);
  const inode = materializeAt(p, parent, name, entry, false, new Map());
  p.head.inodes.touchDir(dir);
  return inode;
}

/**
 * `inParentBase`: `e` is in the parent's base tree under `name` (an inline file may read
 * from there). `linked`: the inode made for each hard link id met so far, so that a
 * file's names in the revision are one inode again.
 */
function materializeAt(
  p: RestoreParts,
  parent: Ino,
  name: string,
  e: Entry,
  inParentBase: boolean,
  linked: Map<number, Ino>,
): Inode {
  const { inodes } = p.head;
  const first = e.link && linked.get(e.link.id);
  if (first) {
    const i = inodes.must(first);
    const out: Inode = { ...i, links: [...(i.links ?? []), [parent, name]] };
    inodes.addName(parent, name, i);
    inodes.save(out);
    return out;
  }
  const common = {
    ino: inodes.allocIno(),
    parent,
    name,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtimeNs: e.mtimeNs,
    ctimeNs: nowNs(),
    ...(e.xattrs ? { xattrs: e.xattrs } : {}),
  };
  let inode: Inode;
  if (e.type === "file" && e.inline) {
    inode = { ...common, type: "file", size: e.size, base: null, baseBlocks: e.size > 0 ? 1 : 0, inline: inParentBase };
  } else if (e.type === "file") {
    const blocks = Math.ceil(e.size / p.head.blockSize);
    // The head reads whole records: old versions restored from deltas are stored whole again.
    for (const [, h] of p.maps.present(e.content)) p.blocks.promote(h);
    inode = { ...common, type: "file", size: e.size, base: e.content, baseBlocks: blocks, inline: false };
  } else if (e.type === "symlink") {
    inode = { ...common, type: "symlink", target: e.target };
  } else if (e.type === "dir") {
    inode = { ...common, type: "dir", base: e.content, baseBytes: e.size };
  } else {
    inode = { ...common, type: e.type, rdev: e.rdev };
  }
  inodes.link(inode);
  if (e.link) linked.set(e.link.id, inode.ino);
  if (e.type === "file" && e.inline && !inParentBase && e.size > 0) {
    // Its directory's base is not the revision's: its bytes go into the overlay.
    p.head.files.setOverlay(inode.ino, 0, p.head.fresh.put(e.inline, kindOf(name)));
  }
  if (e.type === "dir") {
    const children = p.dirs.list(e.content);
    for (const [childName, child] of children) materializeAt(p, inode.ino, childName, child, true, linked);
    // The children match `base` exactly: nothing below needs a rebuild at snapshot, but
    // hard links, whose entries must name their new inode.
    inodes.clearMarks(inode.ino);
    for (const [childName, child] of children) if (child.link) inodes.markName(inode.ino, childName);
  }
  return inode;
}
