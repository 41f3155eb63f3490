/**
 * The kernel's references to inodes, for every tree the mount serves: each lookup (or
 * create) answered adds one, each forget takes some away. A tree hears of the first
 * reference (`hold`) and the last one let go (`release`): a head inode the kernel holds
 * must outlive its last name, as an open file does, since the kernel may still write
 * back its cached pages and times; a `.snapshots` node may be freed only when released.
 */
import type { Tree } from "./node.ts";

export class InodeTable {
  private readonly refs = new Map<number, number>();

  /** The kernel got `ino` from `tree` in a reply: one more reference. */
  ref(tree: Tree, ino: number): void {
    const n = this.refs.get(ino) ?? 0;
    if (n === 0) tree.hold(ino);
    this.refs.set(ino, n + 1);
  }

  forget(tree: Tree, ino: number, nlookup: number): void {
    const n = (this.refs.get(ino) ?? 0) - nlookup;
    if (n > 0) return void this.refs.set(ino, n);
    if (!this.refs.delete(ino)) return;
    tree.release(ino);
  }

  /** Inodes the kernel holds now: for tests and stats. */
  get size(): number {
    return this.refs.size;
  }
}
