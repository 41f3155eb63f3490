/**
 * Head directory listings kept between requests. A walk lists a directory twice: to
 * count the subdirectories of each child it hands over with attributes (their nlink),
 * and again when it reads the child; the kernel also reads a listing in pieces. The
 * head changes only through this mount, so a listing stays right until a change to its
 * directory drops it (HeadTree calls `changed`). Least recently used listings go past
 * `maxEntries` entries in all.
 */
import type { DirEntryOut } from "./fuse/ops.ts";

export class DirCache {
  /** In use order: the first is the least recently used. */
  private readonly listings = new Map<number, DirEntryOut[]>();
  private entries = 0;

  constructor(private readonly maxEntries = 200_000) {}

  /** The listing of `dir`, from `load` when it is not kept. Callers must not change it. */
  get(dir: number, load: () => DirEntryOut[]): DirEntryOut[] {
    const kept = this.listings.get(dir);
    if (kept) {
      this.listings.delete(dir);
      this.listings.set(dir, kept);
      return kept;
    }
    const listing = load();
    this.listings.set(dir, listing);
    this.entries += listing.length;
    for (const [oldest, l] of this.listings) {
      if (this.entries <= this.maxEntries || oldest === dir) break;
      this.listings.delete(oldest);
      this.entries -= l.length;
    }
    return listing;
  }

  /** `dir`'s entries changed (or it is gone). */
  changed(dir: number): void {
    const l = this.listings.get(dir);
    if (!l) return;
    this.listings.delete(dir);
    this.entries -= l.length;
  }
}
