/**
 * The filesystem a mount serves: the store's head, read-write, and `.snapshots`,
 * read-only. Requests arrive from fs/fuse/session.ts; file data goes through the
 * block page cache (fs/page_cache.ts), everything else to the store through mod.ts.
 */
import { infoOfInode, type Ino, type NodeInfo, ROOT_INO, type Store } from "../mod.ts";
import { toErrno } from "./errno.ts";
import {
  type Attr,
  type Caller,
  type DirEntryOut,
  type EntryOut,
  Errno,
  FuseError,
  type FuseHandler,
  type Maybe,
  type OpenOut,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  type SetAttrIn,
  type StatfsOut,
} from "./fuse/ops.ts";
import { LAYOUT } from "./fuse/layout.ts";
import { loadFuse } from "./fuse/libfuse.ts";
import { PageCache } from "./page_cache.ts";
import { SNAPSHOTS_NAME, SNAPSHOTS_ROOT_INO, SnapshotsDir } from "./snapshots_dir.ts";

/** The head changes only through us, so the kernel may cache what we tell it. */
const HEAD_TIMEOUT = 1;
/** Revisions never change. */
const SNAPSHOT_TIMEOUT = 3600;
const O_ACCMODE = 3, O_RDONLY = 0;

const TYPE_BITS = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK } as const;

export class RevfsFilesystem implements FuseHandler {
  private readonly snapshots: SnapshotsDir;
  private readonly dirHandles = new Map<number, DirEntryOut[]>();
  /** Handle -> head inode of every open head file. */
  private readonly openFiles = new Map<number, number>();
  /**
   * Head inode -> the kernel's lookup count. An inode the kernel still holds stays
   * alive after its last name goes, as an open one does: the kernel may still write
   * back its cached pages and times, until it sends forget.
   */
  private readonly kernelRefs = new Map<number, number>();
  private nextFh = 1;
  private readonly mountedAt = BigInt(Date.now()) * 1_000_000n;

  constructor(private readonly store: Store, readonly cache: PageCache = new PageCache(store)) {
    this.snapshots = new SnapshotsDir(store);
  }

  errnoOf(e: unknown): number | undefined {
    return toErrno(e);
  }

  // --- attributes ---------------------------------------------------------

  private headAttr(ino: number): Attr {
    const i = this.store.head.inode(ino as Ino);
    if (!i) throw new FuseError(Errno.ENOENT);
    const attr = { ...this.infoAttr(ino, infoOfInode(i)), ctimeNs: i.ctimeNs };
    const p = this.cache.pending(ino as Ino);
    if (p) {
      attr.size = p.size;
      attr.atimeNs = attr.mtimeNs = p.mtimeNs;
    }
    return attr;
  }

  private infoAttr(ino: number, info: NodeInfo): Attr {
    return {
      ino,
      mode: TYPE_BITS[info.type] | info.mode,
      nlink: info.type === "dir" ? 2 : 1,
      uid: info.uid,
      gid: info.gid,
      size: info.type === "dir" ? 4096 : info.size,
      atimeNs: info.mtimeNs,
      mtimeNs: info.mtimeNs,
      ctimeNs: info.mtimeNs,
    };
  }

  private snapshotsRootAttr(): Attr {
    return {
      ino: SNAPSHOTS_ROOT_INO,
      mode: S_IFDIR | 0o555,
      nlink: 2,
      uid: 0,
      gid: 0,
      size: 4096,
      atimeNs: this.mountedAt,
      mtimeNs: this.mountedAt,
      ctimeNs: this.mountedAt,
    };
  }

  private attrOf(ino: number): { attr: Attr; timeout: number } {
    if (ino === SNAPSHOTS_ROOT_INO) return { attr: this.snapshotsRootAttr(), timeout: HEAD_TIMEOUT };
    if (SnapshotsDir.owns(ino)) {
      const n = this.snapshots.node(ino);
      return { attr: this.infoAttr(ino, n.info), timeout: SNAPSHOT_TIMEOUT };
    }
    return { attr: this.headAttr(ino), timeout: HEAD_TIMEOUT };
  }

  private entry(ino: number): EntryOut {
    const { attr, timeout } = this.attrOf(ino);
    return { attr, attrTimeout: timeout, entryTimeout: timeout };
  }

  /** An entry handed to the kernel for a head inode: one more lookup reference. */
  private headEntry(ino: number): EntryOut {
    const e = this.entry(ino);
    const n = this.kernelRefs.get(ino) ?? 0;
    if (n === 0) this.store.head.pin(ino as Ino);
    this.kernelRefs.set(ino, n + 1);
    return e;
  }

  private readOnly(ino: number): void {
    if (SnapshotsDir.owns(ino)) throw new FuseError(Errno.EROFS);
  }

  private checkParent(parent: number, name: string): void {
    this.readOnly(parent);
    if (parent === ROOT_INO && name === SNAPSHOTS_NAME) throw new FuseError(Errno.EROFS);
  }

  // --- names --------------------------------------------------------------

  lookup(parent: number, name: string): EntryOut {
    if (parent === ROOT_INO && name === SNAPSHOTS_NAME) return this.entry(SNAPSHOTS_ROOT_INO);
    if (parent === SNAPSHOTS_ROOT_INO) return this.entry(this.snapshots.ref(this.snapshots.lookupRoot(name)).ino);
    if (SnapshotsDir.owns(parent)) {
      return this.entry(this.snapshots.ref(this.snapshots.lookup(this.snapshots.node(parent), name)).ino);
    }
    const ino = this.store.head.lookup(parent as Ino, name);
    if (ino === undefined) throw new FuseError(Errno.ENOENT);
    return this.headEntry(ino);
  }

  forget(ino: number, nlookup: number): void {
    if (SnapshotsDir.owns(ino)) return this.snapshots.forget(ino, nlookup);
    const n = (this.kernelRefs.get(ino) ?? 0) - nlookup;
    if (n > 0) return void this.kernelRefs.set(ino, n);
    if (!this.kernelRefs.delete(ino)) return;
    this.change(() => this.store.head.unpin(ino as Ino));
    this.dropIfGone(ino as Ino);
  }

  getattr(ino: number): { attr: Attr; timeout: number } {
    return this.attrOf(ino);
  }

  setattr(ino: number, set: SetAttrIn): { attr: Attr; timeout: number } {
    this.readOnly(ino);
    if (ino === SNAPSHOTS_ROOT_INO) throw new FuseError(Errno.EROFS);
    const onlyTimes = set.mode === undefined && set.uid === undefined && set.gid === undefined &&
      set.size === undefined;
    // The kernel writes back a file's times after writes: keep them with the pending writes.
    if (onlyTimes && set.mtimeNs !== undefined && this.cache.setPendingMtime(ino as Ino, set.mtimeNs)) {
      return this.attrOf(ino);
    }
    // A resize works on the stored file, so what is cached goes first; a truncate to
    // nothing (open with O_TRUNC) has nothing to keep.
    if (set.size === 0) this.cache.drop(ino as Ino);
    else if (set.size !== undefined) this.cache.writeOut(ino as Ino);
    this.change(() =>
      this.store.head.setattr(ino as Ino, {
        mode: set.mode,
        uid: set.uid,
        gid: set.gid,
        size: set.size,
        mtimeNs: set.mtimeNs,
      })
    );
    if (set.mtimeNs !== undefined) this.cache.setPendingMtime(ino as Ino, set.mtimeNs);
    return this.attrOf(ino);
  }

  readlink(ino: number): string {
    if (SnapshotsDir.owns(ino)) {
      const t = this.snapshots.node(ino).info.target;
      if (t === undefined) throw new FuseError(Errno.EINVAL);
      return t;
    }
    const i = this.store.head.inode(ino as Ino);
    if (!i) throw new FuseError(Errno.ENOENT);
    if (i.type !== "symlink") throw new FuseError(Errno.EINVAL);
    return i.target;
  }

  private make(
    parent: number,
    name: string,
    type: "file" | "dir" | "symlink",
    mode: number,
    c: Caller,
    target?: string,
  ) {
    this.checkParent(parent, name);
    const i = this.change(() =>
      this.store.head.create(parent as Ino, name, {
        type,
        mode: mode & ~c.umask & 0o7777,
        uid: c.uid,
        gid: c.gid,
        mtimeNs: BigInt(Date.now()) * 1_000_000n,
        target,
      })
    );
    return this.headEntry(i.ino);
  }

  mknod(parent: number, name: string, mode: number, c: Caller): EntryOut {
    if ((mode & 0o170000) !== S_IFREG) throw new FuseError(Errno.ENOTSUP);
    return this.make(parent, name, "file", mode, c);
  }

  mkdir(parent: number, name: string, mode: number, c: Caller): EntryOut {
    return this.make(parent, name, "dir", mode, c);
  }

  symlink(target: string, parent: number, name: string, c: Caller): EntryOut {
    return this.make(parent, name, "symlink", 0o777 | c.umask, c, target);
  }

  unlink(parent: number, name: string): void {
    this.checkParent(parent, name);
    const ino = this.store.head.lookup(parent as Ino, name);
    this.change(() => this.store.head.remove(parent as Ino, name, false));
    if (ino !== undefined) this.dropIfGone(ino);
  }

  /** Unwritten data of a file freed from the head has nowhere to go. */
  private dropIfGone(ino: Ino): void {
    if (!this.store.head.inode(ino)) this.cache.drop(ino);
  }

  rmdir(parent: number, name: string): void {
    this.checkParent(parent, name);
    this.change(() => this.store.head.remove(parent as Ino, name, true));
  }

  rename(parent: number, name: string, newParent: number, newName: string, flags: number): void {
    this.checkParent(parent, name);
    this.checkParent(newParent, newName);
    if (flags !== 0) throw new FuseError(Errno.EINVAL);
    const replaced = this.store.head.lookup(newParent as Ino, newName);
    this.change(() => this.store.head.rename(parent as Ino, name, newParent as Ino, newName));
    if (replaced !== undefined) this.dropIfGone(replaced);
  }

  // --- files --------------------------------------------------------------

  open(ino: number, flags: number): OpenOut {
    if (SnapshotsDir.owns(ino)) {
      if ((flags & O_ACCMODE) !== O_RDONLY) throw new FuseError(Errno.EROFS);
      return { fh: this.nextFh++, keepCache: true };
    }
    // Head data changes only through this mount, and so through the kernel's cache:
    // what the kernel holds of a file stays valid across opens.
    if (!this.store.head.inode(ino as Ino)) throw new FuseError(Errno.ENOENT);
    // The session turns atomic O_TRUNC off: the kernel strips O_TRUNC from open and
    // truncates an existing file with a setattr to size 0 first.
    return this.openHead(ino);
  }

  /** Open head files are pinned: unlinked while open, they live until released. */
  private openHead(ino: number): OpenOut {
    const fh = this.nextFh++;
    this.store.head.pin(ino as Ino);
    this.openFiles.set(fh, ino);
    return { fh, keepCache: true };
  }

  create(parent: number, name: string, mode: number, _flags: number, c: Caller): [EntryOut, OpenOut] {
    const e = this.make(parent, name, "file", mode, c);
    return [e, this.openHead(e.attr.ino)];
  }

  read(ino: number, size: number, offset: number): Maybe<Uint8Array[]> {
    if (SnapshotsDir.owns(ino)) return this.readSnapshot(ino, size, offset);
    return this.cache.headSegments(ino as Ino, offset, size);
  }

  private readSnapshot(ino: number, size: number, offset: number): Maybe<Uint8Array[]> {
    const { entry } = this.snapshots.node(ino);
    if (entry.type !== "file") throw new FuseError(Errno.EISDIR);
    return this.cache.entrySegments(entry, offset, size, `s${ino}`);
  }

  write(ino: number, data: Uint8Array, offset: number): number {
    this.readOnly(ino);
    this.cache.write(ino as Ino, offset, data);
    return data.length;
  }

  flush(): void {}

  release(_ino: number, fh: number): void {
    const ino = this.openFiles.get(fh);
    if (ino === undefined) return;
    this.openFiles.delete(fh);
    this.change(() => this.store.head.unpin(ino as Ino));
    this.dropIfGone(ino as Ino);
  }

  async fsync(ino: number): Promise<void> {
    if (!SnapshotsDir.owns(ino)) this.cache.writeOut(ino as Ino);
    await this.store.flush();
  }

  /** Namespace changes are pending until a commit; `flush` commits them all. */
  async fsyncdir(): Promise<void> {
    await this.store.flush();
  }

  /**
   * Namespace changes (create, rename, unlink, chmod, ...) are group-committed: made at
   * once, committed with the next writeout, fsync, fsyncdir or snapshot, or by the mount's
   * writeback timer. One commit with fsync per create was most of a create's time.
   */
  private change<T>(fn: () => T): T {
    return this.store.changeLater(fn);
  }

  // --- directories --------------------------------------------------------

  opendir(ino: number): OpenOut {
    const fh = this.nextFh++;
    const entries: DirEntryOut[] = [
      { name: ".", ino, mode: S_IFDIR },
      { name: "..", ino: ROOT_INO, mode: S_IFDIR },
    ];
    if (ino === SNAPSHOTS_ROOT_INO) {
      for (const name of this.snapshots.rootNames()) {
        const n = this.snapshots.lookupRoot(name);
        entries.push({ name, ino: n.ino, mode: S_IFDIR });
      }
    } else if (SnapshotsDir.owns(ino)) {
      for (const [name, n] of this.snapshots.list(this.snapshots.node(ino))) {
        entries.push({ name, ino: n.ino, mode: TYPE_BITS[n.info.type] });
      }
    } else {
      for (const [name, child] of this.store.head.readdir(ino as Ino)) {
        const i = this.store.head.mustInode(child);
        entries.push({ name, ino: child, mode: TYPE_BITS[i.type] });
      }
      if (ino === ROOT_INO) entries.push({ name: SNAPSHOTS_NAME, ino: SNAPSHOTS_ROOT_INO, mode: S_IFDIR });
    }
    this.dirHandles.set(fh, entries);
    return { fh };
  }

  readdir(_ino: number, offset: number, fh: number): DirEntryOut[] {
    const entries = this.dirHandles.get(fh);
    if (!entries) throw new FuseError(Errno.EBADF);
    return entries.slice(offset);
  }

  releasedir(_ino: number, fh: number): void {
    this.dirHandles.delete(fh);
  }

  /** Space of the filesystem the store lives on: that is where writes go. */
  statfs(): StatfsOut {
    const { libc } = loadFuse();
    const buf = new Uint8Array(LAYOUT.statvfs);
    if (libc.statvfs(new TextEncoder().encode(this.store.dir + "\0"), buf) !== 0) throw new FuseError(Errno.EIO);
    const v = new DataView(buf.buffer);
    const get = (k: keyof typeof LAYOUT) => Number(v.getBigUint64(LAYOUT[k], true));
    const frsize = get("statvfs.f_frsize");
    const bs = this.store.blockSize;
    return {
      blockSize: bs,
      blocks: get("statvfs.f_blocks") * frsize / bs,
      blocksFree: get("statvfs.f_bavail") * frsize / bs,
      files: get("statvfs.f_files"),
      filesFree: get("statvfs.f_favail"),
      nameMax: 255,
    };
  }
}
