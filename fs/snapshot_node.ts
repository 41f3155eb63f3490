/**
 * The read-only `.snapshots` tree: `.snapshots/REV/...` for every revision number and
 * tag. Its inode numbers live at and above SNAPSHOT_INO_BASE, away from the head's. A
 * node the kernel holds keeps its number; a node the kernel let go of, or only listed,
 * stays for a while (so `ls -i` and `stat` agree) and is freed least-recently-used first.
 */
import {
  type Entry,
  type FileEntry,
  infoOfEntry,
  type NodeInfo,
  RevfsError,
  type RevNumber,
  ROOT_INO,
  type VersionedStore,
  type Xattrs,
} from "../mod.ts";
import { type Attr, type DirEntryOut, Errno, FuseError, S_IFDIR } from "./fuse/ops.ts";
import { attrOf, type AttrOut, ReadOnlyTree, type StoredBlocks, type Tree, TYPE_BITS } from "./node.ts";
import type { PageCache } from "./page_cache.ts";
import { DirReadAhead } from "./dir_read_ahead.ts";

export const SNAPSHOTS_NAME = ".snapshots";
export const SNAPSHOT_INO_BASE = 2 ** 40;
export const SNAPSHOTS_ROOT_INO = SNAPSHOT_INO_BASE;
/** Revisions never change: the kernel may cache them for long. */
const SNAPSHOT_TIMEOUT = 3600;
/** `.snapshots` itself gains entries with every snapshot. */
const ROOT_TIMEOUT = 1;
/** Nodes kept after the kernel let go of them. */
const IDLE_MAX = 65_536;
const O_ACCMODE = 3, O_RDONLY = 0;

export interface SnapshotNode {
  ino: number;
  rev: RevNumber;
  /** Path inside the revision; "" is its root. */
  path: string;
  entry: Entry;
  info: NodeInfo;
  /** Subdirectories of a directory, counted on the first getattr (for nlink). */
  subdirs?: number;
  /** Its keys in the node table: its path, and for a hard-linked file each other path met and its link. */
  keys: string[];
}

export class SnapshotTree extends ReadOnlyTree implements Tree {
  private readonly byKey = new Map<string, SnapshotNode>();
  private readonly byIno = new Map<number, SnapshotNode>();
  /** Nodes the kernel does not hold, oldest first. */
  private readonly idle = new Map<number, SnapshotNode>();
  private nextIno = SNAPSHOT_INO_BASE + 1;
  private rootAttr: Attr;
  /** A copy out of a snapshot (a restore) reads a directory's files one after another, as one of the head does. */
  private readonly dirAhead = new DirReadAhead((dir) => ({
    // A revision's directory never changes: its node stands for its listing.
    listing: this.node(dir),
    files: () => this.list(dir).filter((e) => e.mode === TYPE_BITS.file).map((e) => e.ino),
  }), (inos) => this.cache.prefetchEntryStarts(inos.flatMap((ino) => this.fileEntry(ino))));

  constructor(private readonly store: VersionedStore, private readonly cache: PageCache) {
    super();
    const t = BigInt(Date.now()) * 1_000_000n;
    this.rootAttr = {
      ino: SNAPSHOTS_ROOT_INO,
      mode: S_IFDIR | 0o555,
      nlink: 2,
      uid: 0,
      gid: 0,
      size: 4096,
      atimeNs: t,
      mtimeNs: t,
      ctimeNs: t,
    };
  }

  /** A revision or tag was made: `.snapshots` lists something new, now. */
  revisionsChanged(): void {
    const t = BigInt(Date.now()) * 1_000_000n;
    // Always later than before: the kernel lists the directory again when its mtime moves.
    const mtimeNs = t > this.rootAttr.mtimeNs ? t : this.rootAttr.mtimeNs + 1n;
    this.rootAttr = { ...this.rootAttr, mtimeNs, ctimeNs: mtimeNs };
  }

  owns(ino: number): boolean {
    return ino >= SNAPSHOT_INO_BASE;
  }

  /** Nodes held by the kernel or idle: for tests and stats. */
  get size(): number {
    return this.byIno.size;
  }

  getattr(ino: number): AttrOut {
    if (ino === SNAPSHOTS_ROOT_INO) {
      // A directory's nlink is 2 and one per subdirectory: here, each revision and tag.
      const nlink = 2 + this.store.revisions().length + this.store.tags().length;
      return { attr: { ...this.rootAttr, nlink }, timeout: ROOT_TIMEOUT };
    }
    const n = this.node(ino);
    if (n.info.type === "dir" && n.subdirs === undefined) {
      n.subdirs = this.store.view(n.rev).list(n.path).filter(([, i]) => i.type === "dir").length;
    }
    return { attr: attrOf(ino, n.info, undefined, n.subdirs), timeout: SNAPSHOT_TIMEOUT };
  }

  storedBlocks(ino: number): StoredBlocks {
    const { entry } = this.node(ino);
    if (entry.type !== "file") throw new FuseError(Errno.EINVAL);
    if (entry.inline) return { size: entry.size, blocks: [], inline0: entry.size > 0 };
    return { size: entry.size, blocks: this.store.entryBlocks(entry), inline0: false };
  }

  xattrs(ino: number): Xattrs {
    return ino === SNAPSHOTS_ROOT_INO ? [] : this.node(ino).info.xattrs ?? [];
  }

  lookup(parent: number, name: string): number {
    if (parent === SNAPSHOTS_ROOT_INO) return this.lookupRoot(name).ino;
    const p = this.node(parent);
    return this.intern(p.rev, p.path ? `${p.path}/${name}` : name).ino;
  }

  readlink(ino: number): string {
    const t = this.node(ino).info.target;
    if (t === undefined) throw new FuseError(Errno.EINVAL);
    return t;
  }

  list(ino: number): DirEntryOut[] {
    const entries: DirEntryOut[] = [
      { name: ".", ino, mode: S_IFDIR },
      { name: "..", ino: ROOT_INO, mode: S_IFDIR },
    ];
    if (ino === SNAPSHOTS_ROOT_INO) {
      // Revision numbers, then tags.
      const names = [...this.store.revisions().map((r) => String(r.rev)), ...this.store.tags().map(([t]) => t)];
      for (const name of names) entries.push({ name, ino: this.lookupRoot(name).ino, mode: S_IFDIR });
      return entries;
    }
    const dir = this.node(ino);
    for (const [name] of this.store.view(dir.rev).list(dir.path)) {
      const n = this.intern(dir.rev, dir.path ? `${dir.path}/${name}` : name);
      entries.push({ name, ino: n.ino, mode: TYPE_BITS[n.info.type] });
    }
    return entries;
  }

  open(ino: number, flags: number): { keepCache: boolean } {
    this.node(ino);
    if ((flags & O_ACCMODE) !== O_RDONLY) throw new FuseError(Errno.EROFS);
    return { keepCache: true };
  }

  close(): void {}

  read(ino: number, size: number, offset: number) {
    const { entry, rev, path } = this.node(ino);
    if (entry.type !== "file") throw new FuseError(Errno.EISDIR);
    if (offset === 0) this.dirAhead.started(this.intern(rev, parentPath(path)).ino, ino);
    return this.cache.entrySegments(entry, offset, size, `s${ino}`);
  }

  /** A node's file entry; none when it is not a regular file or was let go of. */
  private fileEntry(ino: number): FileEntry[] {
    const e = this.byIno.get(ino)?.entry;
    return e?.type === "file" ? [e] : [];
  }

  hold(ino: number): void {
    this.idle.delete(ino);
  }

  release(ino: number): void {
    const n = this.byIno.get(ino);
    if (n) this.makeIdle(n);
  }

  private node(ino: number): SnapshotNode {
    const n = this.byIno.get(ino);
    if (!n) throw new FuseError(Errno.ENOENT);
    return n;
  }

  private makeIdle(n: SnapshotNode): void {
    this.idle.delete(n.ino);
    this.idle.set(n.ino, n);
    for (const [ino, old] of this.idle) {
      if (this.idle.size <= IDLE_MAX) break;
      this.idle.delete(ino);
      this.byIno.delete(ino);
      for (const k of old.keys) this.byKey.delete(k);
    }
  }

  private lookupRoot(name: string): SnapshotNode {
    let rev: RevNumber | "head";
    try {
      rev = this.store.resolve(name);
    } catch (e) {
      // Any name that is not a revision or a tag is simply not there.
      if (e instanceof RevfsError && (e.code === "UNKNOWN_REV" || e.code === "INVALID")) {
        throw new FuseError(Errno.ENOENT);
      }
      throw e;
    }
    if (rev === "head") throw new FuseError(Errno.ENOENT);
    return this.intern(rev, "");
  }

  /** The node of a path in a revision, made on first use. A damaged page is EIO (fs/errno.ts logs it). */
  private intern(rev: RevNumber, path: string): SnapshotNode {
    // A tag and its number are the same tree: key by number so they share inodes.
    const key = `${rev}\0${path}`;
    let n = this.byKey.get(key);
    if (n) return n;
    const entry = this.store.revisionTree(rev).entry(path);
    // Every name of a hard-linked file is one node: one inode number, as on a local disk.
    const linkKey = entry.link && `${rev}\0#${entry.link.id}`;
    n = linkKey === undefined ? undefined : this.byKey.get(linkKey);
    if (n) {
      n.keys.push(key);
    } else {
      n = { ino: this.nextIno++, rev, path, entry, info: infoOfEntry(entry), keys: [key] };
      if (linkKey !== undefined) n.keys.push(linkKey);
      this.byKey.set(linkKey ?? key, n);
      this.byIno.set(n.ino, n);
      this.makeIdle(n);
    }
    this.byKey.set(key, n);
    return n;
  }
}

/** The directory a path in a revision is in ("" for its root). */
function parentPath(path: string): string {
  return path.slice(0, Math.max(0, path.lastIndexOf("/")));
}
