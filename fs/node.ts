/**
 * The node layer: what a tree the mount serves implements. The mount serves two: the
 * head (fs/head_node.ts, read-write) and the revisions under `.snapshots`
 * (fs/snapshot_node.ts, read-only). fs/vfs.ts picks the tree that owns an inode
 * number and hands it the request; it counts the kernel's references itself
 * (fs/inode_table.ts) and tells the tree when the first is taken and the last let go.
 *
 * Inode numbers are numbers (FUSE's root is 1). A method throws FuseError, or a
 * RevfsError that fs/errno.ts maps, to answer with an errno.
 */
import type { Attr, Caller, DirEntryOut, Maybe, SetAttrIn } from "./fuse/ops.ts";
import { Errno, FuseError } from "./fuse/ops.ts";
import { TYPE_BITS } from "../sys/libc.ts";
import type { BlockHash, EntryType, NodeInfo, XattrMode, Xattrs } from "../mod.ts";

/** st_mode's type bits by node type, and back: one table for the mount and for import/export. */
export { TYPE_BITS, typeOfMode } from "../sys/libc.ts";

export interface StoredBlocks {
  size: number;
  blocks: [number, BlockHash][];
  inline0: boolean;
}

/** Attributes and how long the kernel may cache them (and the name that led to them). */
export interface AttrOut {
  attr: Attr;
  timeout: number;
}

export type NodeType = EntryType;

export interface Tree {
  /** True for the inode numbers this tree hands out. */
  owns(ino: number): boolean;

  getattr(ino: number): AttrOut;
  /** The inode number of `name` in directory `parent`; ENOENT when missing. */
  lookup(parent: number, name: string): number;
  readlink(ino: number): string;
  /** Every entry of a directory, `.` and `..` first. */
  list(ino: number): DirEntryOut[];

  /** Checks an open; `keepCache`: the kernel's cached pages of the file stay valid. */
  open(ino: number, flags: number): { keepCache: boolean };
  /** The last handle of an open file was released. */
  close(ino: number): void;
  /** A file was read through a handle for the first time (its access time, if the tree keeps one). */
  accessed?(ino: number): void;
  /** The bytes read, as views in order, valid until the next call into the tree. */
  read(ino: number, size: number, offset: number): Maybe<Uint8Array[]>;

  /** The kernel took its first reference to `ino` (a lookup answered). */
  hold(ino: number): void;
  /** The kernel let go of its last reference. */
  release(ino: number): void;

  setattr(ino: number, set: SetAttrIn): AttrOut;
  /** `target`: a symlink's; `rdev`: a device node's number. */
  make(
    parent: number,
    name: string,
    type: NodeType,
    mode: number,
    caller: Caller,
    target?: string,
    rdev?: number,
  ): number;
  unlink(parent: number, name: string): void;
  rmdir(parent: number, name: string): void;
  rename(parent: number, name: string, newParent: number, newName: string): void;
  /** Gives `ino` one more name (a hard link); returns `ino`. */
  link(ino: number, newParent: number, newName: string): number;
  write(ino: number, data: Uint8Array, offset: number): number;
  /** Makes a file's data durable. */
  fsync(ino: number): void;
  /** Makes names durable. */
  fsyncdir(ino: number): void;

  /**
   * A file as stored (its pending writes stored first): its size and the blocks that
   * are not holes, in index order; `inline0`: block 0 has no record of its own (a
   * small file kept in its directory page), so it can be read but not shared.
   */
  storedBlocks(ino: number): StoredBlocks;
  /** Stores a file's pending writes (what the tree's cache holds), so the store is current. */
  storePending(ino: number): void;

  /** A node's extended attributes, sorted by name. */
  xattrs(ino: number): Xattrs;
  /** Sets (`value` null: removes) one extended attribute. */
  setXattr(ino: number, name: string, value: Uint8Array | null, mode: XattrMode): void;
}

function readOnly(): never {
  throw new FuseError(Errno.EROFS);
}

/** A tree nobody may change: every change is EROFS; syncing has nothing to do. */
export abstract class ReadOnlyTree {
  readonly setattr: Tree["setattr"] = readOnly;
  readonly make: Tree["make"] = readOnly;
  readonly unlink: Tree["unlink"] = readOnly;
  readonly rmdir: Tree["rmdir"] = readOnly;
  readonly rename: Tree["rename"] = readOnly;
  readonly link: Tree["link"] = readOnly;
  readonly write: Tree["write"] = readOnly;
  readonly setXattr: Tree["setXattr"] = readOnly;
  storePending(): void {}
  fsync(): void {}
  fsyncdir(): void {}
}

/** FUSE attributes of a stored node; a directory's nlink counts its `subdirs`, as a local disk's does. */
export function attrOf(ino: number, info: NodeInfo, ctimeNs = info.mtimeNs, subdirs = 0): Attr {
  return {
    ino,
    mode: TYPE_BITS[info.type] | info.mode,
    nlink: info.type === "dir" ? 2 + subdirs : info.nlink ?? 1,
    uid: info.uid,
    gid: info.gid,
    size: info.type === "dir" ? 4096 : info.size,
    atimeNs: info.mtimeNs,
    mtimeNs: info.mtimeNs,
    ctimeNs,
    rdev: info.rdev ?? 0,
  };
}
