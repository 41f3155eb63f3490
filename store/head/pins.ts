/**
 * Inodes open in this process. An inode that loses its last name while pinned becomes
 * an orphan (parent 0): its data stays until the last unpin frees it. Pins live in
 * memory only, so orphans a stopped writer left behind are freed by `sweep` on the
 * next open for writing (store/head/namespace.ts).
 */
import type { Ino } from "../types.ts";

export class Pins {
  private readonly counts = new Map<Ino, number>();
  /** Pinned inodes that lost their last name: the ones a last unpin may free. */
  private readonly orphans = new Set<Ino>();

  has(ino: Ino): boolean {
    return this.counts.has(ino);
  }

  pin(ino: Ino): void {
    this.counts.set(ino, (this.counts.get(ino) ?? 0) + 1);
  }

  /** Undoes one pin; true when that was the last one. */
  unpin(ino: Ino): boolean {
    const n = (this.counts.get(ino) ?? 0) - 1;
    if (n > 0) {
      this.counts.set(ino, n);
      return false;
    }
    this.counts.delete(ino);
    return true;
  }

  /** A pinned inode lost its last name. */
  orphaned(ino: Ino): void {
    this.orphans.add(ino);
  }

  /**
   * Whether `ino` was orphaned while pinned (forgotten here). A hint that saves reading
   * every inode at its last unpin: the caller still checks the inode itself.
   */
  takeOrphan(ino: Ino): boolean {
    return this.orphans.delete(ino);
  }
}
