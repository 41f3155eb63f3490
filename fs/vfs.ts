/**
 * The filesystem a mount serves: the request handler fs/fuse/session.ts calls. It
 * dispatches each request to the tree that owns the inode (fs/node.ts): the head,
 * read-write, and `.snapshots`, read-only. It keeps what is the same for both: the
 * kernel's references (fs/inode_table.ts), open file and directory handles, statfs.
 */
import { RevfsError, type VersionedStore } from "../mod.ts";
import { copyRange, fallocate } from "./file_ranges.ts";
import { toErrno } from "./errno.ts";
import type {
  Attr,
  Caller,
  DirEntryOut,
  EntryOut,
  FuseHandler,
  ListingPart,
  Maybe,
  OpenOut,
  SetAttrIn,
  StatfsOut,
} from "./fuse/ops.ts";
import { Errno, FuseError } from "./fuse/ops.ts";
import { statfsOf } from "./fuse/statfs.ts";
import { HeadTree } from "./head_node.ts";
import { InodeTable } from "./inode_table.ts";
import { type NodeType, type Tree, typeOfMode } from "./node.ts";
import { PageCache } from "./page_cache.ts";
import { DirPositions } from "./dir_positions.ts";
import { isAclName } from "./posix_acl.ts";
import { SNAPSHOTS_NAME, SNAPSHOTS_ROOT_INO, SnapshotTree } from "./snapshot_node.ts";

const NAME_MAX = 255;
/** setxattr(2) flags. */
const XATTR_CREATE = 1, XATTR_REPLACE = 2;
/** lseek(2) whences the kernel passes on (the others it answers itself). */
const SEEK_DATA = 3, SEEK_HOLE = 4;
const O_ACCMODE = 3, O_RDONLY = 0;

export interface FilesystemOptions {
  /** POSIX ACLs (the session asks the kernel for FUSE_POSIX_ACL): kept with the mode, inherited. */
  acls?: boolean;
}

export class RevfsFilesystem implements FuseHandler {
  private readonly head: HeadTree;
  private readonly snapshots: SnapshotTree;
  private readonly inodes = new InodeTable();
  /** Open file handles: the tree and inode each was opened on. */
  private readonly files = new Map<number, { tree: Tree; ino: number; read?: true; writes: boolean }>();
  /** Readers' places in listings (no directory is opened: fs/dir_positions.ts). */
  private readonly positions = new DirPositions();
  private nextFh = 1;

  private readonly acls: boolean;

  constructor(
    private readonly store: VersionedStore,
    readonly cache: PageCache = new PageCache(store),
    opts: FilesystemOptions = {},
  ) {
    this.acls = opts.acls ?? false;
    this.snapshots = new SnapshotTree(store, cache);
    this.head = new HeadTree(store, cache, { name: SNAPSHOTS_NAME, ino: SNAPSHOTS_ROOT_INO }, this.acls);
  }

  errnoOf(e: unknown): number | undefined {
    return toErrno(e);
  }

  private tree(ino: number): Tree {
    return this.snapshots.owns(ino) ? this.snapshots : this.head;
  }

  /** An entry handed to the kernel: one more reference to the inode. */
  private entry(ino: number): EntryOut {
    const t = this.tree(ino);
    const { attr, timeout } = t.getattr(ino);
    this.inodes.ref(t, ino);
    return { attr, attrTimeout: timeout, entryTimeout: timeout };
  }

  private openHandle(tree: Tree, ino: number, flags: number): OpenOut {
    const { keepCache } = tree.open(ino, flags);
    const fh = this.nextFh++;
    const writes = (flags & O_ACCMODE) !== O_RDONLY;
    this.files.set(fh, { tree, ino, writes });
    return { fh, keepCache };
  }

  // --- names --------------------------------------------------------------

  lookup(parent: number, name: string): EntryOut {
    // The kernel leaves NAME_MAX to the filesystem: a longer component of any path
    // (chmod, unlink, rename, ...) is ENAMETOOLONG, as on a local disk, not ENOENT.
    if (name.length > NAME_MAX / 3 && new TextEncoder().encode(name).length > NAME_MAX) {
      throw new RevfsError("NAME_TOO_LONG", `file name longer than ${NAME_MAX} bytes`, { path: name.slice(0, 32) });
    }
    return this.entry(this.tree(parent).lookup(parent, name));
  }

  forget(ino: number, nlookup: number): void {
    this.inodes.forget(this.tree(ino), ino, nlookup);
  }

  getattr(ino: number): { attr: Attr; timeout: number } {
    return this.tree(ino).getattr(ino);
  }

  setattr(ino: number, set: SetAttrIn): { attr: Attr; timeout: number } {
    return this.tree(ino).setattr(ino, set);
  }

  readlink(ino: number): string {
    return this.tree(ino).readlink(ino);
  }

  private make(parent: number, name: string, type: NodeType, mode: number, c: Caller, target?: string, rdev?: number) {
    return this.entry(this.tree(parent).make(parent, name, type, mode, c, target, rdev));
  }

  /** A regular file, FIFO, socket or device node (the kernel checks who may make devices). */
  mknod(parent: number, name: string, mode: number, rdev: number, c: Caller): EntryOut {
    const type = typeOfMode(mode);
    if (type === undefined || type === "dir" || type === "symlink") throw new FuseError(Errno.EINVAL);
    return this.make(parent, name, type, mode, c, undefined, type === "chardev" || type === "blockdev" ? rdev : 0);
  }

  mkdir(parent: number, name: string, mode: number, c: Caller): EntryOut {
    return this.make(parent, name, "dir", mode, c);
  }

  symlink(target: string, parent: number, name: string, c: Caller): EntryOut {
    return this.make(parent, name, "symlink", 0o777 | c.umask, c, target);
  }

  unlink(parent: number, name: string): void {
    this.tree(parent).unlink(parent, name);
  }

  rmdir(parent: number, name: string): void {
    this.tree(parent).rmdir(parent, name);
  }

  rename(parent: number, name: string, newParent: number, newName: string, flags: number): void {
    const from = this.tree(parent);
    // Between the head and `.snapshots` nothing moves: one side is read-only.
    if (from !== this.tree(newParent)) throw new FuseError(Errno.EROFS);
    if (flags !== 0) throw new FuseError(Errno.EINVAL);
    from.rename(parent, name, newParent, newName);
  }

  link(ino: number, newParent: number, newName: string): EntryOut {
    const to = this.tree(newParent);
    // Nothing is made in a revision; a revision's file has no inode in the head to name
    // (as between filesystems).
    if (to === this.snapshots) throw new FuseError(Errno.EROFS);
    if (this.tree(ino) !== to) throw new FuseError(Errno.EXDEV);
    return this.entry(to.link(ino, newParent, newName));
  }

  // --- copies and holes (fs/file_ranges.ts) -------------------------------

  copyFileRange(inoIn: number, offIn: number, inoOut: number, offOut: number, len: number, flags: number) {
    if (flags !== 0) throw new FuseError(Errno.EINVAL);
    if (this.tree(inoOut) !== this.head) throw new FuseError(Errno.EROFS);
    const src = { tree: this.tree(inoIn), ino: inoIn }, dst = { tree: this.head, ino: inoOut };
    return copyRange(this.store.head, this.store.blockSize, src, offIn, dst, offOut, len);
  }

  fallocate(ino: number, mode: number, offset: number, length: number): void {
    if (this.tree(ino) !== this.head) throw new FuseError(Errno.EROFS);
    fallocate(this.store.head, this.store.blockSize, { tree: this.head, ino }, mode, offset, length);
  }

  /**
   * lseek(2) SEEK_DATA / SEEK_HOLE: a hole is a block the file does not store (never
   * written, or punched); ENXIO at or past the end, as a local disk gives. The kernel
   * asks without writing back the pages it holds dirty, which only a handle open for
   * writing (or a mapping, which holds one) can have made: while there is one, the
   * whole file is data, as on a filesystem without holes. Calling a hole what the
   * kernel still holds would make `cp --sparse` skip real data.
   */
  lseek(ino: number, offset: number, whence: number): number {
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FuseError(Errno.EINVAL);
    const tree = this.tree(ino);
    // Rare enough to look through the open handles rather than count writers on every open.
    if ([...this.files.values()].some((f) => f.ino === ino && f.writes)) {
      // The kernel's size may be past ours too: no ENXIO for data past our end.
      if (offset < 0) throw new FuseError(Errno.ENXIO);
      return whence === SEEK_DATA ? offset : Math.max(offset, tree.getattr(ino).attr.size);
    }
    const { size, blocks, inline0 } = tree.storedBlocks(ino);
    if (offset < 0 || offset >= size) throw new FuseError(Errno.ENXIO);
    const bs = this.store.blockSize;
    const data = new Set(blocks.map(([i]) => i));
    if (inline0) data.add(0);
    const last = Math.ceil(size / bs);
    for (let i = Math.floor(offset / bs); i < last; i++) {
      if (data.has(i) === (whence === SEEK_DATA)) return Math.max(offset, i * bs);
    }
    if (whence === SEEK_HOLE) return size;
    throw new FuseError(Errno.ENXIO);
  }

  // --- extended attributes -------------------------------------------------

  setxattr(ino: number, name: string, value: Uint8Array, flags: number): void {
    // Without ACLs on, an ACL stored as a plain attribute would change nothing (cp -a
    // sets the mode that way): refused, programs fall back to chmod, as on a
    // filesystem without ACLs.
    if (!this.acls && isAclName(name)) throw new FuseError(Errno.ENOTSUP);
    const mode = flags & XATTR_CREATE ? "create" : flags & XATTR_REPLACE ? "replace" : "either";
    this.tree(ino).setXattr(ino, name, value, mode);
  }

  getxattr(ino: number, name: string): Uint8Array {
    const found = this.tree(ino).xattrs(ino).find(([n]) => n === name);
    if (!found) throw new FuseError(Errno.ENODATA);
    return found[1];
  }

  listxattr(ino: number): string[] {
    return this.tree(ino).xattrs(ino).map(([n]) => n);
  }

  removexattr(ino: number, name: string): void {
    this.tree(ino).setXattr(ino, name, null, "either");
  }

  // --- files --------------------------------------------------------------

  open(ino: number, flags: number): OpenOut {
    return this.openHandle(this.tree(ino), ino, flags);
  }

  create(parent: number, name: string, mode: number, flags: number, c: Caller): [EntryOut, OpenOut] {
    const e = this.make(parent, name, "file", mode, c);
    return [e, this.openHandle(this.tree(e.attr.ino), e.attr.ino, flags)];
  }

  read(ino: number, size: number, offset: number, fh: number): Maybe<Uint8Array[]> {
    const f = this.files.get(fh);
    // relatime: the first read through a handle may record an access; later ones do not ask.
    if (f && !f.read) {
      f.read = true;
      f.tree.accessed?.(ino);
    }
    return this.tree(ino).read(ino, size, offset);
  }

  readSent(views: Uint8Array[]): void {
    this.cache.sent(views);
  }

  write(ino: number, data: Uint8Array, offset: number): number {
    return this.tree(ino).write(ino, data, offset);
  }

  release(_ino: number, fh: number): void {
    const f = this.files.get(fh);
    if (!f) return;
    this.files.delete(fh);
    f.tree.close(f.ino);
  }

  fsync(ino: number): void {
    this.tree(ino).fsync(ino);
  }

  fsyncdir(ino: number): void {
    this.tree(ino).fsyncdir(ino);
  }

  // --- directories --------------------------------------------------------

  readdir(ino: number, offset: number): ListingPart {
    return this.positions.part(ino, offset, () => this.tree(ino).list(ino));
  }

  /**
   * An entry readdirplus hands the kernel, counted as a lookup; none for "." and ".."
   * (the kernel skips them), `.snapshots`, the revisions `.snapshots` lists (each one's
   * attributes would list its root, for nlink) or an entry gone since the listing was
   * taken. Without attributes, a copy out of a snapshot cost a lookup per file: 3,324
   * more requests copying 3,000 files, a third of the copy's time.
   */
  listedEntry(dir: number, e: DirEntryOut): EntryOut | undefined {
    if (e.name === "." || e.name === ".." || dir === SNAPSHOTS_ROOT_INO) return undefined;
    if (this.tree(dir) !== this.tree(e.ino)) return undefined;
    try {
      return this.entry(e.ino);
    } catch {
      return undefined;
    }
  }

  /**
   * A snapshot was taken outside any request (through the control socket), so
   * `.snapshots` lists one more: the inode whose copy in the kernel is now stale.
   */
  revisionsChanged(): number {
    this.snapshots.revisionsChanged();
    return SNAPSHOTS_ROOT_INO;
  }

  /** Space of the filesystem the store lives on: that is where writes go. */
  statfs(): StatfsOut {
    return statfsOf(this.store.dir, this.store.blockSize, NAME_MAX);
  }
}
