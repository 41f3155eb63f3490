/**
 * The read-only `.snapshots` tree: `.snapshots/REV/...` for every revision number
 * and tag. Its inode numbers live above SNAPSHOT_INO_BASE, away from the head's.
 * A node the kernel holds (its lookup count is above zero) keeps its number; a node
 * the kernel has forgotten, or only listed, stays for a while (so `ls -i` and `stat`
 * agree) and is freed least-recently-used first.
 */
import { type Entry, infoOfEntry, type NodeInfo, type RevNumber, type Store } from "../mod.ts";
import { Errno, FuseError } from "./fuse/ops.ts";

export const SNAPSHOTS_NAME = ".snapshots";
export const SNAPSHOT_INO_BASE = 2 ** 40;
export const SNAPSHOTS_ROOT_INO = SNAPSHOT_INO_BASE;
/** Nodes kept after the kernel forgot them. */
const IDLE_MAX = 65_536;

export interface SnapshotNode {
  ino: number;
  rev: RevNumber;
  /** Path inside the revision; "" is its root. */
  path: string;
  entry: Entry;
  info: NodeInfo;
  /** The kernel's references: lookups answered minus those it forgot. */
  lookups: number;
}

export class SnapshotsDir {
  private readonly byKey = new Map<string, SnapshotNode>();
  private readonly byIno = new Map<number, SnapshotNode>();
  /** Nodes with no kernel reference, oldest first. */
  private readonly idle = new Map<number, SnapshotNode>();
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

  /** Nodes held by the kernel or idle: for tests and stats. */
  get size(): number {
    return this.byIno.size;
  }

  /** The kernel got `n` from a lookup: it holds it until forgotten. */
  ref(n: SnapshotNode): SnapshotNode {
    n.lookups++;
    this.idle.delete(n.ino);
    return n;
  }

  forget(ino: number, nlookup: number): void {
    const n = this.byIno.get(ino);
    if (!n) return;
    n.lookups = Math.max(0, n.lookups - nlookup);
    if (n.lookups === 0) this.makeIdle(n);
  }

  private makeIdle(n: SnapshotNode): void {
    this.idle.delete(n.ino);
    this.idle.set(n.ino, n);
    for (const [ino, old] of this.idle) {
      if (this.idle.size <= IDLE_MAX) break;
      this.idle.delete(ino);
      this.byIno.delete(ino);
      this.byKey.delete(`${old.rev}\0${old.path}`);
    }
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
      n = { ino: this.nextIno++, rev, path, entry, info: infoOfEntry(entry), lookups: 0 };
      this.byKey.set(key, n);
      this.byIno.set(n.ino, n);
      this.makeIdle(n);
    }
    return n;
  }
}
