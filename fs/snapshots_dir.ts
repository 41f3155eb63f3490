/**
 * The read-only `.snapshots` tree: `.snapshots/REV/...` for every revision number
 * and tag. Its inode numbers live above SNAPSHOT_INO_BASE, away from the head's, and
 * stay stable while mounted. Revisions are immutable, so entries are cached forever.
 */
import { type Entry, infoOfEntry, type NodeInfo, type RevNumber, type Store } from "../mod.ts";
import { Errno, FuseError } from "./fuse/ops.ts";

export const SNAPSHOTS_NAME = ".snapshots";
export const SNAPSHOT_INO_BASE = 2 ** 40;
export const SNAPSHOTS_ROOT_INO = SNAPSHOT_INO_BASE;

export interface SnapshotNode {
  ino: number;
  rev: RevNumber;
  /** Path inside the revision; "" is its root. */
  path: string;
  entry: Entry;
  info: NodeInfo;
}

export class SnapshotsDir {
  private readonly byKey = new Map<string, SnapshotNode>();
  private readonly byIno = new Map<number, SnapshotNode>();
  private nextIno = SNAPSHOT_INO_BASE + 1;

  constructor(private readonly store: Store) {}

  static owns(ino: number): boolean {
    return ino >= SNAPSHOT_INO_BASE;
  }

  node(ino: number): SnapshotNode {
    const n = this.byIno.get(ino);
    if (!n) throw new FuseError(Errno.ENOENT);
    return n;
  }

  /** Names in `.snapshots`: revision numbers, then tags. */
  rootNames(): string[] {
    const revs = [...this.store.log.all()].map((r) => String(r.rev));
    return [...revs, ...this.store.log.tags().map(([t]) => t)];
  }

  lookupRoot(name: string): SnapshotNode {
    let rev: RevNumber | "head";
    try {
      rev = this.store.resolve(name);
    } catch {
      throw new FuseError(Errno.ENOENT);
    }
    if (rev === "head") throw new FuseError(Errno.ENOENT);
    return this.intern(rev, "");
  }

  lookup(parent: SnapshotNode, name: string): SnapshotNode {
    return this.intern(parent.rev, parent.path ? `${parent.path}/${name}` : name);
  }

  list(dir: SnapshotNode): [string, SnapshotNode][] {
    return this.store.view(dir.rev).list(dir.path).map(([name]) => [name, this.lookup(dir, name)]);
  }

  private intern(rev: RevNumber, path: string): SnapshotNode {
    // A tag and its number are the same tree: key by number so they share inodes.
    const key = `${rev}\0${path}`;
    let n = this.byKey.get(key);
    if (!n) {
      let entry: Entry;
      try {
        entry = this.store.revisionView(rev).entry(path);
      } catch {
        throw new FuseError(Errno.ENOENT);
      }
      n = { ino: this.nextIno++, rev, path, entry, info: infoOfEntry(entry) };
      this.byKey.set(key, n);
      this.byIno.set(n.ino, n);
    }
    return n;
  }
}
