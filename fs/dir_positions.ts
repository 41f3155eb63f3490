/**
 * Where a reader is in a directory's listing, with no open handle to remember it by:
 * the mount answers no OPENDIR (fs/fuse/op_table.ts says why), so a READDIR names only
 * the directory and the offset the reader's previous part ended at. An offset names the
 * listing the reader was handed (its generation) and a position in it, so a reader
 * finishes the listing it started even when the directory changes between its reads:
 * every entry neither added nor removed meanwhile comes exactly once, as POSIX asks of
 * readdir. The last listings of each directory are kept; a reader whose listing was
 * dropped since goes on at the same position of the current one.
 */
import type { DirEntryOut, ListingPart } from "./fuse/ops.ts";

/** Positions per generation: an offset is generation * POSITIONS + position + 1. */
const POSITIONS = 2 ** 32;
/** Generations before they wrap; offsets stay below 2^53, exact as numbers. */
const GENERATIONS = 2 ** 20;
/** Listings kept per directory: the current one and the one before it. */
const PER_DIR = 2;

interface Kept {
  gen: number;
  entries: DirEntryOut[];
}

export class DirPositions {
  /** Per directory, newest last; directories in use order, the least recent first. */
  private readonly kept = new Map<number, Kept[]>();
  private entries = 0;
  private nextGen = 1;

  /** `maxEntries`: entries kept in all, past which the least recently read directories go. */
  constructor(private readonly maxEntries = 200_000) {}

  /**
   * The part of `dir`'s listing after `offset` (0: from the start). `list` gives the
   * current listing; it must hand out a new array when the directory changes (a kept
   * listing is never changed in place).
   */
  part(dir: number, offset: number, list: () => DirEntryOut[]): ListingPart {
    const gen = Math.floor(offset / POSITIONS);
    const from = offset % POSITIONS;
    const l = offset > 0 ? this.kept.get(dir)?.find((k) => k.gen === gen) : undefined;
    if (l) return { entries: l.entries, from, base: gen * POSITIONS };
    const entries = list();
    return { entries, from, base: this.generationOf(dir, entries) * POSITIONS };
  }

  private generationOf(dir: number, entries: DirEntryOut[]): number {
    let listings = this.kept.get(dir);
    const newest = listings?.at(-1);
    if (listings) this.kept.delete(dir);
    else listings = [];
    this.kept.set(dir, listings);
    if (newest?.entries === entries) return newest.gen;

    const gen = this.nextGen;
    this.nextGen = (this.nextGen + 1) % GENERATIONS;
    listings.push({ gen, entries });
    this.entries += entries.length;
    if (listings.length > PER_DIR) this.entries -= listings.shift()!.entries.length;
    for (const [oldest, l] of this.kept) {
      if (this.entries <= this.maxEntries || oldest === dir) break;
      this.kept.delete(oldest);
      for (const k of l) this.entries -= k.entries.length;
    }
    return gen;
  }
}
