/**
 * History for files that left their path. A snapshot that deletes a file and adds
 * others (a file moved to another directory, a module split in two, a checkout of a
 * commit that restructured a tree, a package release that renamed a file) would keep
 * the deleted file's last version whole: no file at its path follows it, and its inode,
 * if it ever had one here, is gone. So, as git's rename detection does, each such file's
 * blocks become deltas on the added file most like its successor: one of the same name
 * first, then of the same extension and the nearest size.
 *
 * Bounded per snapshot: at most one block of deleted files tried per block the added
 * files hold (they were all written since the last snapshot, so the work is of the order
 * of writing them), or MIN_BLOCKS, and CANDIDATES bases each. What is left stays whole.
 */
import type { BlockStore } from "../blocks/block_store.ts";
import { kindOf } from "../blocks/dicts.ts";
import { hashKey } from "../blocks/hash.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import type { DirTrees } from "../tree/dir_tree.ts";
import type { LaterDeltas } from "./later_deltas.ts";
import type { BlockHash, Entry, MapRoot } from "../types.ts";

/** Blocks of deleted files tried per snapshot at least. */
const MIN_BLOCKS = 256;
/** Added files tried as the successor of one deleted file. */
const CANDIDATES = 2;
/** Beyond this size ratio a file of the same extension is not a candidate. */
const MAX_SIZE_RATIO = 2;
/** Deleted files looked at per snapshot: `rm -rf` of a large tree must not read all of it. */
const MAX_GONE = 4096;

interface File {
  name: string;
  size: number;
  root: MapRoot;
}

export class MovedFiles {
  /** Entries the snapshot removes, by name; a directory is looked into only when files were added. */
  private readonly removedEntries: [string, Entry][] = [];
  private readonly gone: File[] = [];
  private readonly added: File[] = [];
  private readonly byName = new Map<string, File[]>();
  private readonly byKind = new Map<string, File[]>();

  constructor(
    private readonly p: { blocks: BlockStore; maps: BlockMaps; dirs: DirTrees; laterDeltas: LaterDeltas },
  ) {}

  /** `entry` was at `name` in the parent revision and the snapshot removes it (for a directory: every file below). */
  removed(name: string, entry: Entry | null): void {
    if (entry !== null) this.removedEntries.push([name, entry]);
  }

  /** The files of the removed entries, those below removed directories included, up to MAX_GONE. */
  private collectGone(name: string, entry: Entry): void {
    if (this.gone.length >= MAX_GONE) return;
    if (entry.type === "file" && entry.content !== null) {
      this.gone.push({ name, size: entry.size, root: entry.content });
    } else if (entry.type === "dir") {
      for (const [child, e] of this.p.dirs.list(entry.content)) this.collectGone(child, e);
    }
  }

  /** A file the snapshot puts where the parent revision had none. */
  appeared(name: string, entry: Entry): void {
    if (entry.type === "file" && entry.content !== null) {
      this.added.push({ name, size: entry.size, root: entry.content });
    }
  }

  /** Makes the deleted files' blocks deltas on their likely successors. Inside the snapshot's transaction. */
  apply(): void {
    if (this.removedEntries.length === 0 || this.added.length === 0) return;
    for (const [name, entry] of this.removedEntries) this.collectGone(name, entry);
    // A block an added file holds is the head's: it stays whole (a file moved unchanged).
    const held = new Set<string>();
    for (const f of this.added) for (const [, h] of this.p.maps.present(f.root)) held.add(hashKey(h));
    let budget = Math.max(MIN_BLOCKS, held.size);
    // By name, and by kind in size order: finding candidates is a lookup, not a scan.
    for (const f of this.added) {
      push(this.byName, f.name, f);
      push(this.byKind, kindOf(f.name), f);
    }
    for (const list of this.byKind.values()) list.sort((a, b) => a.size - b.size);
    for (const g of this.gone) {
      const likely = this.successors(g);
      if (likely.length === 0) continue;
      for (const [idx, older] of this.p.maps.present(g.root)) {
        if (budget-- <= 0) return;
        if (held.has(hashKey(older))) continue;
        const bases = likely.map((f) => this.blockNear(f, idx)).filter((h): h is BlockHash => h !== null);
        if (bases.length > 0) this.p.laterDeltas.block(older, bases[0], bases.slice(1));
      }
    }
  }

  /** The added files most like `g`'s successor, best first. */
  private successors(g: File): File[] {
    const out = (this.byName.get(g.name) ?? []).slice(0, CANDIDATES);
    const sameKind = this.byKind.get(kindOf(g.name)) ?? [];
    const ratio = (f: File) => Math.max(f.size, g.size) / Math.max(1, Math.min(f.size, g.size));
    // Walk outwards from g's size: the nearest sizes first.
    let hi = lowerBound(sameKind, g.size), lo = hi - 1;
    while (out.length < CANDIDATES && (lo >= 0 || hi < sameKind.length)) {
      const up = hi < sameKind.length ? sameKind[hi] : undefined;
      const down = lo >= 0 ? sameKind[lo] : undefined;
      let f: File;
      if (down === undefined || (up !== undefined && ratio(up) <= ratio(down))) {
        f = up!;
        hi++;
      } else {
        f = down;
        lo--;
      }
      if (ratio(f) > MAX_SIZE_RATIO) break;
      if (!out.includes(f)) out.push(f);
    }
    return out;
  }

  /** `f`'s block at `idx`, or its last one when `f` is shorter. */
  private blockNear(f: File, idx: number): BlockHash | null {
    const last = Math.max(0, Math.ceil(f.size / this.p.blocks.blockSize) - 1);
    return this.p.maps.lookup(f.root, Math.min(idx, last));
  }
}

function push(m: Map<string, File[]>, key: string, f: File): void {
  const list = m.get(key);
  if (list) list.push(f);
  else m.set(key, [f]);
}

/** The first index of `sorted` (by size) whose size is at least `size`. */
function lowerBound(sorted: File[], size: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].size < size) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
