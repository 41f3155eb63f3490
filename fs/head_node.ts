/**
 * The head as the mount serves it: read-write, file data through the page cache
 * (fs/page_cache.ts), everything else straight to the store's head, whose namespace
 * changes are group-committed (store/api.ts). The root also shows the read-only
 * `.snapshots` tree, which another Tree serves under its own inode numbers.
 */
import { infoOfInode, type Ino, ROOT_INO, type VersionedStore, type XattrMode, type Xattrs } from "../mod.ts";
import {
  type Caller,
  type DirEntryOut,
  Errno,
  FuseError,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  type SetAttrIn,
} from "./fuse/ops.ts";
import { attrOf, type AttrOut, type NodeType, type StoredBlocks, type Tree, TYPE_BITS } from "./node.ts";
import { DirCache } from "./dir_cache.ts";
import { DirReadAhead } from "./dir_read_ahead.ts";
import type { PageCache } from "./page_cache.ts";
import { ACL_ACCESS, ACL_DEFAULT, aclBytes, chmodAcl, inherit, isAclName, modeOfAcl, parseAcl } from "./posix_acl.ts";

/**
 * The head changes only through this mount, by requests the kernel makes and so knows
 * of (it drops what it keeps of an inode or directory it changes), so it may keep what
 * we tell it for long. With 1 s, an `ls -l` a few seconds after the last one cost a
 * lookup per file, since the kernel keeps listings (no OPENDIR, fs/fuse/op_table.ts).
 */
const HEAD_TIMEOUT = 3600;

/** A directory of another tree shown in the head's root under a reserved name. */
export interface MountedDir {
  name: string;
  ino: number;
}

export class HeadTree implements Tree {
  /**
   * Subdirectories per directory, for nlink: counted on the first getattr, then kept
   * by mkdir, rmdir and rename (while mounted, the head changes only through here).
   */
  private readonly subdirs = new Map<number, number>();
  private readonly listings = new DirCache();
  private readonly dirAhead = new DirReadAhead((dir) => {
    const listing = this.list(dir);
    return { listing, files: () => listing.filter((e) => (e.mode & S_IFMT) === S_IFREG).map((e) => e.ino) };
  }, (inos) => this.cache.prefetchStarts(inos as Ino[]));

  constructor(
    private readonly store: VersionedStore,
    private readonly cache: PageCache,
    private readonly mounted: MountedDir,
    /** POSIX ACLs are on (fs/posix_acl.ts): the kernel enforces them, we keep them. */
    private readonly acls = false,
  ) {}

  owns(ino: number): boolean {
    return ino < this.mounted.ino;
  }

  storePending(ino: number): void {
    this.cache.writeOut(ino as Ino);
  }

  storedBlocks(ino: number): StoredBlocks {
    this.storePending(ino);
    const f = this.store.head.inode(ino as Ino);
    if (!f) throw new FuseError(Errno.ENOENT);
    if (f.type !== "file") throw new FuseError(Errno.EINVAL);
    return {
      size: f.size,
      blocks: this.store.head.presentBlocks(f),
      inline0: this.store.head.inlineBlock(f) !== undefined,
    };
  }

  xattrs(ino: number): Xattrs {
    const i = this.store.head.inode(ino as Ino);
    if (!i) throw new FuseError(Errno.ENOENT);
    return i.xattrs ?? [];
  }

  setXattr(ino: number, name: string, value: Uint8Array | null, mode: XattrMode): void {
    if (this.acls && isAclName(name)) this.setAcl(ino, name, value);
    else this.store.head.setXattr(ino as Ino, name, value, mode);
    this.ctimeChanged(ino);
  }

  /**
   * A change stored a new ctime for `ino`: its pending writes, which carry a ctime to
   * their writeout (the kernel's, with writeback caching), take it, so the last one set wins.
   */
  private ctimeChanged(ino: number): void {
    const i = this.cache.pending(ino as Ino) && this.store.head.inode(ino as Ino);
    if (i) this.cache.setPendingTimes(ino as Ino, { ctimeNs: i.ctimeNs });
  }

  /**
   * An access ACL sets the mode and is kept only when the mode cannot say it all; a
   * default ACL is for directories. Removing one that is not there is no error (as on
   * ext4). The kernel has checked the caller and the ACL's form before it asks.
   */
  private setAcl(ino: number, name: string, value: Uint8Array | null): void {
    const i = this.store.head.inode(ino as Ino);
    if (!i) throw new FuseError(Errno.ENOENT);
    const acl = value === null ? null : parseAcl(value);
    let keep = acl ? aclBytes(acl) : null;
    if (name === ACL_DEFAULT && i.type !== "dir") {
      if (acl) throw new FuseError(Errno.EACCES);
      return;
    }
    if (name === ACL_ACCESS && acl) {
      const { mode, equivalent } = modeOfAcl(acl, i.mode);
      if (mode !== i.mode) this.store.head.setattr(ino as Ino, { mode });
      if (equivalent) keep = null;
    }
    if (keep === null && !i.xattrs?.some(([n]) => n === name)) return;
    this.store.head.setXattr(ino as Ino, name, keep, "either");
  }

  getattr(ino: number): AttrOut {
    const i = this.store.head.inode(ino as Ino);
    if (!i) throw new FuseError(Errno.ENOENT);
    const attr = attrOf(ino, infoOfInode(i), i.ctimeNs, i.type === "dir" ? this.subdirCount(ino) : 0);
    // Open after its last name went: no links, as fstat on a local disk says.
    if (i.parent === 0 && ino !== ROOT_INO) attr.nlink = 0;
    const p = this.cache.pending(ino as Ino);
    attr.atimeNs = i.atimeNs ?? i.mtimeNs;
    if (p) {
      attr.size = p.size;
      attr.mtimeNs = p.mtimeNs;
      attr.ctimeNs = p.ctimeNs;
    }
    return { attr, timeout: HEAD_TIMEOUT };
  }

  lookup(parent: number, name: string): number {
    if (this.isMounted(parent, name)) return this.mounted.ino;
    const ino = this.store.head.lookup(parent as Ino, name);
    if (ino === undefined) throw new FuseError(Errno.ENOENT);
    return ino;
  }

  readlink(ino: number): string {
    const i = this.store.head.inode(ino as Ino);
    if (!i) throw new FuseError(Errno.ENOENT);
    if (i.type !== "symlink") throw new FuseError(Errno.EINVAL);
    return i.target;
  }

  list(ino: number): DirEntryOut[] {
    return this.listings.get(ino, () => this.listNow(ino));
  }

  private listNow(ino: number): DirEntryOut[] {
    const entries: DirEntryOut[] = [
      { name: ".", ino, mode: S_IFDIR },
      { name: "..", ino: ROOT_INO, mode: S_IFDIR },
    ];
    for (const [name, child, type] of this.store.head.readdir(ino as Ino)) {
      entries.push({ name, ino: child, mode: TYPE_BITS[type] });
    }
    if (ino === ROOT_INO) entries.push({ name: this.mounted.name, ino: this.mounted.ino, mode: S_IFDIR });
    return entries;
  }

  // --- open files and kernel references: both keep an inode alive past its last name

  open(ino: number): { keepCache: boolean } {
    if (!this.store.head.inode(ino as Ino)) throw new FuseError(Errno.ENOENT);
    this.store.head.pin(ino as Ino);
    // Head data changes only through this mount, and so through the kernel's cache:
    // what the kernel holds of a file stays valid across opens. The session turns
    // atomic O_TRUNC off: an existing file is truncated by a setattr to size 0 first.
    return { keepCache: true };
  }

  close(ino: number): void {
    this.unpin(ino);
  }

  hold(ino: number): void {
    this.store.head.pin(ino as Ino);
  }

  release(ino: number): void {
    this.unpin(ino);
  }

  private unpin(ino: number): void {
    if (this.store.head.unpin(ino as Ino)) this.cache.drop(ino as Ino);
  }

  /** Unwritten data of a file freed from the head has nowhere to go. */
  private dropIfGone(ino: number): void {
    if (!this.store.head.inode(ino as Ino)) this.cache.drop(ino as Ino);
  }

  read(ino: number, size: number, offset: number) {
    if (offset === 0) {
      const parent = this.store.head.inode(ino as Ino)?.parent;
      if (parent) this.dirAhead.started(parent, ino);
    }
    return this.cache.headSegments(ino as Ino, offset, size);
  }

  accessed(ino: number): void {
    this.store.head.accessed(ino as Ino, BigInt(Date.now()) * 1_000_000n);
  }

  write(ino: number, data: Uint8Array, offset: number): number {
    this.cache.write(ino as Ino, offset, data);
    return data.length;
  }

  /**
   * The file's writes and every namespace change not committed yet, through the store's
   * write log (or a writeout). Synchronous: a reply in the same turn lets the session
   * wait for the caller's next request on this thread.
   */
  fsync(ino: number): void {
    this.cache.sync(ino as Ino);
  }

  /** Namespace changes are pending until a commit: the write log makes them durable. */
  fsyncdir(ino: number): void {
    this.cache.sync(ino as Ino);
  }

  // --- changes ------------------------------------------------------------

  setattr(ino: number, set: SetAttrIn): AttrOut {
    const onlyTimes = set.mode === undefined && set.uid === undefined && set.gid === undefined &&
      set.size === undefined && set.atimeNs === undefined;
    // The kernel writes back a file's times after writes: keep them with the pending writes.
    const times = { mtimeNs: set.mtimeNs, ctimeNs: set.ctimeNs };
    if (onlyTimes && set.mtimeNs !== undefined && this.cache.setPendingTimes(ino as Ino, times)) {
      return this.getattr(ino);
    }
    // A resize works on the stored file (open with O_TRUNC too).
    if (set.size !== undefined) this.cache.beforeResize(ino as Ino, set.size);
    this.store.head.setattr(ino as Ino, {
      mode: set.mode,
      uid: set.uid,
      gid: set.gid,
      size: set.size,
      mtimeNs: set.mtimeNs,
      atimeNs: set.atimeNs,
      ctimeNs: set.ctimeNs,
    });
    // Pending writes carry times to their writeout: keep them what the kernel was told.
    this.cache.setPendingTimes(ino as Ino, { mtimeNs: set.mtimeNs });
    if (set.mode !== undefined && this.acls) this.chmodAcl(ino, set.mode);
    this.ctimeChanged(ino);
    return this.getattr(ino);
  }

  /** chmod rewrites an access ACL's owner, mask and other entries, as on a local disk. */
  private chmodAcl(ino: number, mode: number): void {
    const value = this.store.head.inode(ino as Ino)?.xattrs?.find(([n]) => n === ACL_ACCESS)?.[1];
    const acl = value && parseAcl(value);
    if (acl) this.store.head.setXattr(ino as Ino, ACL_ACCESS, aclBytes(chmodAcl(acl, mode)), "replace");
  }

  /** The mode a new node gets: the umask, or (ACLs on) its directory's default ACL. */
  private newMode(parent: number, type: NodeType, mode: number, c: Caller): { mode: number; xattrs?: Xattrs } {
    const parentDefault = this.acls && type !== "symlink"
      ? this.store.head.inode(parent as Ino)?.xattrs?.find(([n]) => n === ACL_DEFAULT)?.[1]
      : undefined;
    if (!parentDefault) return { mode: mode & ~c.umask };
    const got = inherit(parentDefault, mode, c.umask, type === "dir");
    const xattrs: Xattrs = [];
    if (got.access) xattrs.push([ACL_ACCESS, got.access]);
    if (got.default) xattrs.push([ACL_DEFAULT, got.default]);
    return { mode: got.mode, xattrs };
  }

  make(parent: number, name: string, type: NodeType, mode: number, c: Caller, target?: string, rdev?: number): number {
    this.checkName(parent, name);
    this.listings.changed(parent);
    const made = this.newMode(parent, type, mode, c);
    const ino = this.store.head.create(parent as Ino, name, {
      type,
      mode: made.mode & 0o7777,
      uid: c.uid,
      gid: c.gid,
      mtimeNs: BigInt(Date.now()) * 1_000_000n,
      target,
      rdev,
      xattrs: made.xattrs,
    }).ino;
    if (type === "dir") this.countSubdirs(parent, +1);
    return ino;
  }

  unlink(parent: number, name: string): void {
    this.checkName(parent, name);
    this.listings.changed(parent);
    const ino = this.store.head.lookup(parent as Ino, name);
    this.store.head.remove(parent as Ino, name, false);
    if (ino === undefined) return;
    this.dropIfGone(ino);
    this.ctimeChanged(ino); // one of its names went
  }

  /** The kernel refuses directories itself; the store refuses a file with no name left (ENOENT). */
  link(ino: number, newParent: number, newName: string): number {
    this.checkName(newParent, newName);
    this.listings.changed(newParent);
    this.store.head.link(ino as Ino, newParent as Ino, newName);
    this.ctimeChanged(ino);
    return ino;
  }

  rmdir(parent: number, name: string): void {
    this.checkName(parent, name);
    this.listings.changed(parent);
    const ino = this.store.head.lookup(parent as Ino, name);
    this.store.head.remove(parent as Ino, name, true);
    this.countSubdirs(parent, -1);
    if (ino !== undefined) {
      this.subdirs.delete(ino);
      this.listings.changed(ino);
    }
  }

  rename(parent: number, name: string, newParent: number, newName: string): void {
    this.checkName(parent, name);
    this.checkName(newParent, newName);
    this.listings.changed(parent);
    this.listings.changed(newParent);
    const moved = this.store.head.lookup(parent as Ino, name);
    const replaced = this.store.head.lookup(newParent as Ino, newName);
    const isDir = (ino: Ino | undefined) => ino !== undefined && this.store.head.inode(ino)?.type === "dir";
    const movedDir = isDir(moved), replacedDir = replaced !== moved && isDir(replaced);
    this.store.head.rename(parent as Ino, name, newParent as Ino, newName);
    if (moved !== undefined) this.ctimeChanged(moved);
    if (movedDir) {
      this.countSubdirs(parent, -1);
      this.countSubdirs(newParent, +1);
    }
    if (replacedDir) {
      this.countSubdirs(newParent, -1);
      this.subdirs.delete(replaced!);
      this.listings.changed(replaced!);
    }
    if (replaced !== undefined && replaced !== moved) this.dropIfGone(replaced);
  }

  /** Subdirectories of a directory (`.snapshots` in the root counts, as ls shows it). */
  private subdirCount(ino: number): number {
    let n = this.subdirs.get(ino);
    if (n === undefined) {
      n = 0;
      for (const e of this.list(ino)) if (e.mode === S_IFDIR && e.name !== "." && e.name !== "..") n++;
      this.subdirs.set(ino, n);
    }
    return n;
  }

  private countSubdirs(ino: number, by: number): void {
    const n = this.subdirs.get(ino);
    if (n !== undefined) this.subdirs.set(ino, n + by);
  }

  private isMounted(parent: number, name: string): boolean {
    return parent === ROOT_INO && name === this.mounted.name;
  }

  /** The mounted directory's name is not the head's to change. */
  private checkName(parent: number, name: string): void {
    if (this.isMounted(parent, name)) throw new FuseError(Errno.EROFS);
  }
}
