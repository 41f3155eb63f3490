/**
 * The head's namespace changes: create, remove, rename, setattr, and freeing inodes
 * that lost their last name. Each method changes records only; the caller runs it in
 * a write transaction (or a group-committed change) of its choosing.
 */
import { checkName } from "../paths.ts";
import { type EntryType, type Ino, RevfsError, ROOT_INO, type Xattrs } from "../types.ts";
import type { FileBlocks } from "./file_blocks.ts";
import { type Inode, namesOf } from "./inode.ts";
import { type Inodes, nowNs } from "./inodes.ts";
import type { Pins } from "./pins.ts";
import { withXattr, type XattrMode } from "../tree/xattrs.ts";

/** What a new name holds. */
export interface NewNode {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  target?: string;
  /** A device node's number. */
  rdev?: number;
  /** Attributes it starts with (an inherited ACL), sorted by name. */
  xattrs?: Xattrs;
  /**
   * A new file's size (import, which sets its blocks in the same transaction: saved once
   * with its size, not again for it). Until its blocks are set it reads as zeros.
   */
  size?: number;
}

/** Attributes to change; a field left out is kept. */
export interface AttrChange {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeNs?: bigint;
  atimeNs?: bigint;
  /** Set by whoever keeps times (the kernel's writeback cache); else now. */
  ctimeNs?: bigint;
  size?: number;
}

/** relatime: an access older than this is recorded again. */
const RELATIME_NS = 24n * 3600n * 1_000_000_000n;

export class Namespace {
  constructor(
    private readonly inodes: Inodes,
    private readonly files: FileBlocks,
    private readonly pins: Pins,
  ) {}

  /**
   * Creates a name in `parent`; fails with EXISTS when it is taken. `touchParent` false
   * leaves the directory's times alone (an import sets them after its last child).
   */
  create(parent: Ino, name: string, node: NewNode, touchParent = true): Inode {
    checkName(name);
    const dir = this.inodes.dir(parent);
    if (this.inodes.lookup(parent, name) !== undefined) {
      throw new RevfsError("EXISTS", `already exists`, { path: name });
    }
    const common = {
      ino: this.inodes.allocIno(),
      parent,
      name,
      mode: node.mode & 0o7777,
      uid: node.uid,
      gid: node.gid,
      mtimeNs: node.mtimeNs,
      ctimeNs: nowNs(),
      ...(node.xattrs?.length ? { xattrs: node.xattrs } : {}),
    };
    let inode: Inode;
    if (node.type === "file") {
      inode = { ...common, type: "file", size: node.size ?? 0, base: null, baseBlocks: 0, inline: false };
    } else if (node.type === "dir") inode = { ...common, type: "dir", base: null, baseBytes: 0 };
    else if (node.type === "symlink") inode = { ...common, type: "symlink", target: node.target ?? "" };
    else inode = { ...common, type: node.type, rdev: node.rdev ?? 0 };
    this.inodes.link(inode);
    if (touchParent) this.inodes.touchDir(dir);
    return inode;
  }

  /**
   * Gives file (or symlink, or special node) `ino` one more name: a hard link. Both
   * names then are the same inode: a change through one is seen through the other.
   */
  link(ino: Ino, newParent: Ino, newName: string): Inode {
    checkName(newName);
    const dir = this.inodes.dir(newParent);
    let i = this.inodes.named(ino);
    if (i.type === "dir") throw new RevfsError("INVALID", `a directory cannot have a second name`, { path: i.name });
    if (i.parent === 0) throw new RevfsError("NO_SUCH_PATH", `has no name left to link to`);
    if (this.inodes.lookup(newParent, newName) !== undefined) {
      throw new RevfsError("EXISTS", `already exists`, { path: newName });
    }
    // An inline file reads from its directory under its first name: give it its own bytes.
    if (i.type === "file") i = this.files.detachInline(i);
    this.inodes.addName(newParent, newName, i);
    const linked: Inode = { ...i, links: [...(i.links ?? []), [newParent, newName]], ctimeNs: nowNs() };
    this.inodes.saveChanged(linked);
    this.inodes.touchDir(dir);
    return linked;
  }

  /** Removes a name and, for a directory, everything below it. */
  removeTree(parent: Ino, name: string): void {
    const ino = this.inodes.lookup(parent, name);
    if (ino === undefined) throw new RevfsError("NO_SUCH_PATH", `does not exist`, { path: name });
    const i = this.inodes.must(ino);
    if (i.type === "dir") {
      for (const [child] of [...this.inodes.readdir(ino)]) this.removeTree(ino, child);
    }
    this.unlinkName(parent, name, i);
    this.inodes.touchDir(this.inodes.dir(parent));
  }

  /** Removes a file or symlink name (`dir: false`) or an empty directory (`dir: true`). */
  remove(parent: Ino, name: string, dir: boolean): void {
    const ino = this.inodes.lookup(parent, name);
    if (ino === undefined) throw new RevfsError("NO_SUCH_PATH", `does not exist`, { path: name });
    const i = this.inodes.must(ino);
    if (dir && i.type !== "dir") throw new RevfsError("NOT_A_DIR", `is not a directory`, { path: name });
    if (!dir && i.type === "dir") throw new RevfsError("IS_A_DIR", `is a directory`, { path: name });
    if (dir && !this.inodes.isEmptyDir(ino)) throw new RevfsError("NOT_EMPTY", `is not empty`, { path: name });
    this.unlinkName(parent, name, i);
    this.inodes.touchDir(this.inodes.dir(parent));
  }

  /**
   * Moves a name. An existing target is replaced when it is a file or symlink, or an
   * empty directory replaced by a directory.
   */
  rename(parent: Ino, name: string, newParent: Ino, newName: string): void {
    checkName(newName);
    const ino = this.inodes.lookup(parent, name);
    if (ino === undefined) throw new RevfsError("NO_SUCH_PATH", `does not exist`, { path: name });
    let i = this.inodes.must(ino);
    const from = this.inodes.dir(parent);
    const to = this.inodes.dir(newParent);
    if (parent === newParent && name === newName) return;
    const existing = this.inodes.lookup(newParent, newName);
    // Two names of one file: rename(2) does nothing.
    if (existing === ino) return;
    if (i.type === "dir") {
      for (let a: Inode | undefined = to; a; a = a.parent === 0 ? undefined : this.inodes.get(a.parent)) {
        if (a.ino === ino) throw new RevfsError("INVALID", `cannot move a directory into itself`, { path: name });
      }
    }
    if (existing !== undefined) {
      const e = this.inodes.must(existing);
      if (i.type === "dir" && e.type !== "dir") {
        throw new RevfsError("NOT_A_DIR", `is not a directory`, { path: newName });
      }
      if (i.type !== "dir" && e.type === "dir") throw new RevfsError("IS_A_DIR", `is a directory`, { path: newName });
      if (e.type === "dir" && !this.inodes.isEmptyDir(existing)) {
        throw new RevfsError("NOT_EMPTY", `is not empty`, { path: newName });
      }
      this.unlinkName(newParent, newName, e);
    }
    // An inline file reads from its directory under its name: it takes its bytes along.
    if (i.type === "file") i = this.files.detachInline(i);
    this.inodes.unlink(parent, name);
    this.inodes.addName(newParent, newName, i);
    this.inodes.saveChanged({ ...renamed(i, parent, name, newParent, newName), ctimeNs: nowNs() });
    this.inodes.touchDir(from);
    if (newParent !== parent) this.inodes.touchDir(this.inodes.dir(newParent));
  }

  setattr(ino: Ino, change: AttrChange): Inode {
    let i = this.inodes.named(ino);
    i = {
      ...i,
      mode: change.mode !== undefined ? change.mode & 0o7777 : i.mode,
      uid: change.uid ?? i.uid,
      gid: change.gid ?? i.gid,
      ctimeNs: nowNs(),
    };
    if (change.size !== undefined) {
      if (i.type !== "file") throw new RevfsError("INVALID", `is not a file`, { path: i.name });
      i = this.files.resize(i, change.size);
    }
    if (change.mtimeNs !== undefined) i.mtimeNs = change.mtimeNs;
    if (change.atimeNs !== undefined) i.atimeNs = change.atimeNs;
    if (change.ctimeNs !== undefined) i.ctimeNs = change.ctimeNs;
    this.inodes.saveChanged(i);
    return i;
  }

  /**
   * Records a read at `nowNs` as relatime does: only when the last access is not
   * after the last change, or is a day old, so reads do not write on every call.
   * Nothing else changes (not ctime; revisions do not keep access times).
   */
  accessed(ino: Ino, nowNs: bigint): void {
    const i = this.inodes.get(ino);
    if (i === undefined) return;
    const atime = i.atimeNs ?? i.mtimeNs;
    if (atime > i.mtimeNs && atime > i.ctimeNs && nowNs - atime < RELATIME_NS) return;
    this.inodes.save({ ...i, atimeNs: nowNs });
  }

  /** Sets (or with `value` null removes) one extended attribute; fails as setxattr(2) does. */
  setXattr(ino: Ino, name: string, value: Uint8Array | null, mode: XattrMode): Inode {
    const i = this.inodes.named(ino);
    const xattrs = withXattr(i.xattrs, name, value, mode);
    const changed = { ...i, xattrs: xattrs.length ? xattrs : undefined, ctimeNs: nowNs() };
    this.inodes.saveChanged(changed);
    return changed;
  }

  /** Undoes one pin; frees the inode when that was the last pin of an orphan (then true). */
  unpin(ino: Ino): boolean {
    if (!this.pins.unpin(ino) || !this.pins.takeOrphan(ino)) return false;
    const i = this.inodes.get(ino);
    if (!i || i.parent !== 0 || ino === ROOT_INO) return false;
    this.dropInode(i);
    return true;
  }

  /** Frees orphans a previous writer left when it stopped with files open. */
  sweepOrphans(): number {
    let n = 0;
    for (const i of [...this.inodes.unnamed()]) {
      if (i.parent === 0 && i.ino !== ROOT_INO && !this.pins.has(i.ino)) {
        this.dropInode(i);
        n++;
      }
    }
    return n;
  }

  private unlinkName(parent: Ino, name: string, i: Inode): void {
    this.inodes.unlink(parent, name);
    const rest = namesOf(i).filter(([p, n]) => p !== parent || n !== name);
    if (rest.length === 0) {
      this.dropInode(i);
      return;
    }
    // Its other names keep the file; the first of them becomes its first name.
    if (i.type === "file") i = this.files.detachInline(i);
    const [[p0, n0], ...more] = rest;
    this.inodes.saveChanged({ ...i, parent: p0, name: n0, links: more.length ? more : undefined, ctimeNs: nowNs() });
  }

  private dropInode(i: Inode): void {
    if (this.pins.has(i.ino)) {
      if (i.type === "file") i = this.files.detachInline(i);
      // Open: keep data and attributes, without a name, until the last unpin.
      this.inodes.save({ ...i, parent: 0, name: "" });
      this.pins.orphaned(i.ino);
      return;
    }
    if (i.type === "file") this.files.clearOverlay(i.ino, 0);
    if (i.type === "dir") this.inodes.clearMarks(i.ino);
    this.inodes.delete(i.ino);
  }
}

/** `i` with its name `name` in `parent` changed to `newName` in `newParent` (any of its names). */
function renamed(i: Inode, parent: Ino, name: string, newParent: Ino, newName: string): Inode {
  if (i.parent === parent && i.name === name) return { ...i, parent: newParent, name: newName };
  const links = (i.links ?? []).map(([p, n]): [Ino, string] =>
    p === parent && n === name ? [newParent, newName] : [p, n]
  );
  return { ...i, links };
}
