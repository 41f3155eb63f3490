/** Head inode records (table `inodes`): the mutable namespace a writer changes. */
import { Reader, Writer } from "../codec.ts";
import { copyBytes } from "../../sys/small_bytes.ts";
import { HASH_BYTES } from "../blocks/hash.ts";
import { type Ino, type MapRoot, type PageHash, RevfsError, type SpecialType, type Xattrs } from "../types.ts";
import { SPECIAL_KIND, specialOf } from "../tree/pages.ts";
import { readXattrs, writeXattrs } from "../tree/xattrs.ts";
import { readMapRoot, writeMapRoot } from "../tree/map_root.ts";

interface InodeCommon {
  ino: Ino;
  /** Directory holding this inode; 0 while it has no name (open after unlink). */
  parent: Ino | 0;
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Extended attributes (format 6); absent when there are none. */
  xattrs?: Xattrs;
  /** Last access (format 6); absent: the same as mtime. The head's only: revisions keep mtime. */
  atimeNs?: bigint;
  /**
   * Its other names (hard links, format 7), each a directory and a name in it; absent
   * when `parent`/`name` is its only one. Never a directory's.
   */
  links?: [Ino, string][];
}

/** The trailing flags byte (format 5 for `inline`, 6 for the rest); absent: all clear. */
const FLAG_INLINE = 1;
const FLAG_XATTRS = 2;
const FLAG_ATIME = 4;
const FLAG_LINKS = 8;

export type Inode =
  | InodeCommon & {
    type: "file";
    size: number;
    /** Block map this file had at the last snapshot (or restore). */
    base: MapRoot | null;
    /** Blocks of `base` still part of the file; later ones were truncated away. */
    baseBlocks: number;
    /**
     * The base is not a block map but the file's inline entry (store/types.ts) in its
     * parent directory's base tree, under its name: one block, read from there while
     * `baseBlocks` is 1 and the overlay does not cover it. A rename or unlink copies it
     * into the overlay first (store/head/file_blocks.ts).
     */
    inline: boolean;
  }
  | InodeCommon & {
    type: "dir";
    /** Directory tree this directory had at the last snapshot. */
    base: PageHash | null;
    /** File bytes below this directory at the last snapshot. */
    baseBytes: number;
  }
  | InodeCommon & { type: "symlink"; target: string }
  | InodeCommon & { type: SpecialType; rdev: number };

export type FileInode = Extract<Inode, { type: "file" }>;
export type DirInode = Extract<Inode, { type: "dir" }>;

const TYPE = { file: 1, dir: 2, symlink: 3, fifo: 4, socket: 4, chardev: 4, blockdev: 4 } as const;

export function encodeInode(i: Inode): Uint8Array {
  const w = new Writer().u8(TYPE[i.type]).uint(i.parent).str(i.name)
    .uint(i.mode).uint(i.uid).uint(i.gid).bigint(i.mtimeNs).bigint(i.ctimeNs);
  const hash = (h: PageHash | null) => h === null ? w.u8(0) : w.u8(1).raw(h);
  switch (i.type) {
    case "file":
      w.uint(i.size);
      writeMapRoot(w, i.base);
      w.uint(i.baseBlocks);
      break;
    case "dir":
      hash(i.base);
      w.uint(i.baseBytes);
      break;
    case "symlink":
      w.str(i.target);
      break;
    default:
      // Format 6: a FIFO, socket or device node.
      w.u8(SPECIAL_KIND[i.type]).uint(i.rdev);
  }
  const flags = (i.type === "file" && i.inline ? FLAG_INLINE : 0) | (i.xattrs?.length ? FLAG_XATTRS : 0) |
    (i.atimeNs !== undefined ? FLAG_ATIME : 0) | (i.links?.length ? FLAG_LINKS : 0);
  if (flags !== 0) w.u8(flags);
  if (flags & FLAG_XATTRS) writeXattrs(w, i.xattrs!);
  if (flags & FLAG_ATIME) w.bigint(i.atimeNs!);
  if (flags & FLAG_LINKS) {
    w.uint(i.links!.length);
    for (const [parent, name] of i.links!) w.uint(parent).str(name);
  }
  return w.finish();
}

export function decodeInode(ino: Ino, bytes: Uint8Array): Inode {
  const r = new Reader(bytes, `inode ${ino}`);
  const t = r.u8();
  const common: InodeCommon = {
    ino,
    parent: r.uint() as Ino,
    name: r.str(),
    mode: r.uint(),
    uid: r.uint(),
    gid: r.uint(),
    mtimeNs: r.bigint(),
    ctimeNs: r.bigint(),
  };
  const hash = () => r.u8() === 0 ? null : copyBytes(r.raw(HASH_BYTES)) as PageHash;
  let i: Inode;
  switch (t) {
    case 1:
      i = { ...common, type: "file", size: r.uint(), base: readMapRoot(r), baseBlocks: r.uint(), inline: false };
      break;
    case 2:
      i = { ...common, type: "dir", base: hash(), baseBytes: r.uint() };
      break;
    case 3:
      i = { ...common, type: "symlink", target: r.str() };
      break;
    case 4:
      i = { ...common, type: specialOf(r.u8()), rdev: r.uint() };
      break;
    default:
      throw new RevfsError("CORRUPT", `inode ${ino} has unknown type ${t}`);
  }
  const flags = r.done ? 0 : r.u8();
  if (i.type === "file") i.inline = (flags & FLAG_INLINE) !== 0;
  if (flags & FLAG_XATTRS) i.xattrs = readXattrs(r);
  if (flags & FLAG_ATIME) i.atimeNs = r.bigint();
  if (flags & FLAG_LINKS) {
    const n = r.uint();
    i.links = [];
    for (let k = 0; k < n; k++) i.links.push([r.uint() as Ino, r.str()]);
  }
  return i;
}

/** Every name of an inode: (directory, name) pairs, its first one first; none when unlinked. */
export function namesOf(i: Inode): [Ino, string][] {
  if (i.parent === 0) return [];
  return i.links ? [[i.parent, i.name], ...i.links] : [[i.parent, i.name]];
}

/** st_nlink of a file, symlink or special node: its names (0 while open after its last unlink). */
export function linkCount(i: Inode): number {
  return i.parent === 0 ? 0 : 1 + (i.links?.length ?? 0);
}
