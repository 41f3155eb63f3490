/**
 * Reading a tree by path, the same way for a revision and for the head: the CLI's
 * ls/cat/export and the mount's .snapshots go through here.
 */
import type { BlockMaps } from "./block_map.ts";
import type { BlockStore } from "../blocks/block_store.ts";
import type { DirTrees } from "./dir_tree.ts";
import type { Head } from "../head/head.ts";
import { splitPath } from "../paths.ts";
import type { Inode } from "../head/inode.ts";
import { type Entry, type EntryType, type Ino, RevfsError, type Revision, type Xattrs } from "../types.ts";

export interface NodeInfo {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  /** Bytes of a file; 0 for a directory; target length for a symlink. */
  size: number;
  target?: string;
  /** A device node's number. */
  rdev?: number;
  /** Extended attributes, when it has any. */
  xattrs?: Xattrs;
  /** Names of this file (hard links; absent: 1, or a directory's own count). */
  nlink?: number;
  /** The same for every name of one file in the view, when it has several; else absent. */
  linkId?: number;
}

export interface TreeView {
  /** What the view shows: "head" or "revision N". */
  readonly label: string;
  stat(path: string): NodeInfo;
  /** Sorted by name. */
  list(path: string): [string, NodeInfo][];
  /** The non-hole blocks of a file in index order, as canonical (zero-trimmed) bytes. */
  blocks(path: string): Iterable<[number, Uint8Array]>;
}

/** A revision's tree, with its entries by path (the mount's `.snapshots` read path). */
export interface RevisionTree extends TreeView {
  entry(path: string): Entry;
}

function xattrsOf(n: { xattrs?: Xattrs }): { xattrs?: Xattrs } {
  return n.xattrs?.length ? { xattrs: n.xattrs } : {};
}

export function infoOfEntry(e: Entry): NodeInfo {
  const base = {
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtimeNs: e.mtimeNs,
    ...xattrsOf(e),
    ...(e.link ? { nlink: e.link.count, linkId: e.link.id } : {}),
  };
  if (e.type === "symlink") return { ...base, size: new TextEncoder().encode(e.target).length, target: e.target };
  if (e.type !== "file" && e.type !== "dir") return { ...base, size: 0, rdev: e.rdev };
  return { ...base, size: e.type === "file" ? e.size : 0 };
}

export function infoOfInode(i: Inode): NodeInfo {
  const base = {
    type: i.type,
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    mtimeNs: i.mtimeNs,
    ...xattrsOf(i),
    ...(i.links?.length ? { nlink: 1 + i.links.length, linkId: i.ino } : {}),
  };
  if (i.type === "symlink") return { ...base, size: new TextEncoder().encode(i.target).length, target: i.target };
  if (i.type !== "file" && i.type !== "dir") return { ...base, size: 0, rdev: i.rdev };
  return { ...base, size: i.type === "file" ? i.size : 0 };
}

function notFound(path: string, rev?: number): RevfsError {
  return new RevfsError("NO_SUCH_PATH", rev === undefined ? "does not exist in head" : "does not exist", { path, rev });
}

export class RevisionView implements RevisionTree {
  readonly label: string;

  constructor(
    private readonly rev: Revision,
    private readonly dirs: DirTrees,
    private readonly maps: BlockMaps,
    private readonly store: BlockStore,
  ) {
    this.label = `revision ${rev.rev}`;
  }

  entry(path: string): Entry {
    let e: Entry = this.rev.root;
    const seen: string[] = [];
    for (const part of splitPath(path)) {
      if (e.type !== "dir") {
        throw new RevfsError("NOT_A_DIR", "is not a directory", { path: seen.join("/"), rev: this.rev.rev });
      }
      seen.push(part);
      const next = this.dirs.lookup(e.content, part);
      if (next === null) throw notFound(path, this.rev.rev);
      e = next;
    }
    return e;
  }

  stat(path: string): NodeInfo {
    return infoOfEntry(this.entry(path));
  }

  list(path: string): [string, NodeInfo][] {
    const e = this.entry(path);
    if (e.type !== "dir") throw new RevfsError("NOT_A_DIR", "is not a directory", { path, rev: this.rev.rev });
    return this.dirs.list(e.content).map(([n, c]) => [n, infoOfEntry(c)]);
  }

  *blocks(path: string): Iterable<[number, Uint8Array]> {
    const e = this.entry(path);
    if (e.type !== "file") throw new RevfsError("IS_A_DIR", "is not a file", { path, rev: this.rev.rev });
    if (e.inline) {
      if (e.inline.length > 0) yield [0, e.inline];
      return;
    }
    for (const [i, h] of this.maps.present(e.content)) yield [i, this.store.get(h)];
  }
}

export class HeadView implements TreeView {
  readonly label = "head";

  constructor(private readonly head: Head, private readonly store: BlockStore) {}

  private inode(path: string): Inode {
    let ino = 1 as Ino;
    let i = this.head.inodes.must(ino);
    for (const part of splitPath(path)) {
      if (i.type !== "dir") throw new RevfsError("NOT_A_DIR", `${i.name} is not a directory in head`);
      const next = this.head.inodes.lookup(ino, part);
      if (next === undefined) throw notFound(path);
      ino = next;
      i = this.head.inodes.must(ino);
    }
    return i;
  }

  stat(path: string): NodeInfo {
    return infoOfInode(this.inode(path));
  }

  list(path: string): [string, NodeInfo][] {
    const i = this.inode(path);
    if (i.type !== "dir") throw new RevfsError("NOT_A_DIR", `${path} is not a directory in head`);
    const out: [string, NodeInfo][] = [];
    for (const [name, ino] of this.head.inodes.readdir(i.ino)) {
      out.push([name, infoOfInode(this.head.inodes.must(ino))]);
    }
    return out.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  }

  *blocks(path: string): Iterable<[number, Uint8Array]> {
    const i = this.inode(path);
    if (i.type !== "file") throw new RevfsError("IS_A_DIR", `${path} is not a file in head`);
    const inline = this.head.files.inlineBlock(i);
    for (const [idx, h] of this.head.files.presentBlocks(i)) {
      yield [idx, idx === 0 && inline ? inline : this.store.get(h)];
    }
  }
}

/** A file's bytes in order, holes zero-filled, in chunks of at most `blockSize`. */
export function* fileChunks(view: TreeView, path: string, blockSize: number): Iterable<Uint8Array> {
  const size = view.stat(path).size;
  let pos = 0;
  const zeros = new Uint8Array(blockSize);
  for (const [idx, data] of view.blocks(path)) {
    const start = idx * blockSize;
    for (; pos < start; pos += blockSize) yield zeros.subarray(0, Math.min(blockSize, start - pos));
    const len = Math.min(blockSize, size - start);
    const out = new Uint8Array(len);
    out.set(data.subarray(0, len));
    yield out;
    pos = start + len;
  }
  for (; pos < size; pos += blockSize) yield zeros.subarray(0, Math.min(blockSize, size - pos));
}
