/**
 * Turning the head into an immutable revision, and the decisions a snapshot makes.
 *
 * Only names marked in `dirty` are visited: each changed file's overlay is folded into
 * a new block map, each changed directory gets a copy-on-write update of its tree,
 * deepest first, up to the root. Cost is O(changed files, blocks and names), not O(tree).
 *
 * The reverse-delta policy lives here too: a block a snapshot replaces becomes a delta
 * on its newer version, so the head never reads through a chain. "Replaces" is judged
 * by what the file is, not by which inode holds it: most programs save by writing a
 * new file (rename over, unlink and create), so a file's previous version is the one at
 * the same path in the parent revision, and also what its inode held before (a file
 * renamed, then edited). The deltas are made at the snapshot's end, or after it for a
 * mount (store/head/later_deltas.ts).
 *
 * A file of at most INLINE_MAX bytes is kept inline: its bytes go into its directory's
 * page (zstd compresses it there with its neighbours, and the page's older versions
 * become deltas), with no block record and no block map of its own.
 */
import { readU64, u64Key, utf8, utf8d } from "../codec.ts";
import type { BlockStore } from "../blocks/block_store.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import type { DirEdits, DirTrees } from "../tree/dir_tree.ts";
import { mapPageOf } from "../tree/map_root.ts";
import type { RecordStore } from "../records/records.ts";
import type { RevisionLog } from "../tree/revisions.ts";
import {
  type BlockHash,
  type DirEntry,
  type Entry,
  type Ino,
  type MapRoot,
  type PageHash,
  RevfsError,
  type Revision,
  ROOT_INO,
} from "../types.ts";
import { bytesEqual, hashKey } from "../blocks/hash.ts";
import { kindOf } from "../blocks/dicts.ts";
import type { Head } from "./head.ts";
import type { LaterDeltas } from "./later_deltas.ts";
import { MovedFiles } from "./moved_files.ts";
import type { DirInode, FileInode, Inode } from "./inode.ts";

/** Files up to this many bytes are kept inline in their directory page. */
export const INLINE_MAX = 2048;

/** Meta key: the revision the head was last snapshotted as (its parent-to-be). */
export const HEAD_PARENT_KEY = utf8.encode("headParent");

/** What a snapshot reads and writes. */
export interface SnapshotParts {
  records: RecordStore;
  head: Head;
  dirs: DirTrees;
  maps: BlockMaps;
  blocks: BlockStore;
  log: RevisionLog;
  laterDeltas: LaterDeltas;
  imported?: ImportedFiles;
}

/**
 * What `import` hands a snapshot: the bytes of files small enough to be inline that it
 * did not store as blocks (their overlay names a block with no record, or, for a file
 * it created, nothing): they go straight into their directory pages.
 */
export interface ImportedFiles {
  small: Map<Ino, Uint8Array>;
  /** Files it created: they have no overlay slot to clear. */
  created: Set<Ino>;
}

function entrySize(e: Entry | null): number {
  return e?.type === "file" || e?.type === "dir" ? e.size : 0;
}

/** What every entry keeps of its inode: a hard-linked file's entries name it by its inode number. */
function metaOf(i: Inode) {
  const meta = { mode: i.mode, uid: i.uid, gid: i.gid, mtimeNs: i.mtimeNs };
  const link = i.links?.length ? { link: { id: i.ino, count: 1 + i.links.length } } : {};
  return i.xattrs?.length ? { ...meta, ...link, xattrs: i.xattrs } : { ...meta, ...link };
}

/** A directory's or symlink's entry; a file's comes from `foldFile`. */
function entryOf(i: Exclude<Inode, FileInode>): Entry {
  const meta = metaOf(i);
  switch (i.type) {
    case "dir":
      return { ...meta, type: "dir", size: i.baseBytes, content: i.base };
    case "symlink":
      return { ...meta, type: "symlink", target: i.target };
    default:
      return { ...meta, type: i.type, rdev: i.rdev };
  }
}

/**
 * Takes a snapshot; must run inside a write transaction. Its reverse deltas are made
 * before it returns, or, with `deltasLater`, left in `p.laterDeltas` (store/head/later_deltas.ts).
 */
export function takeSnapshot(
  p: SnapshotParts,
  message: string,
  opts: { imported?: ImportedFiles; deltasLater?: boolean } = {},
): Revision {
  if (opts.imported) p = { ...p, imported: opts.imported };
  const { records, head } = p;
  // Deltas an earlier snapshot left: made first, in the order they were decided.
  p.laterDeltas.make();
  const dirty = new Map<Ino, Set<string>>();
  const add = (parent: Ino, name: string) => {
    let s = dirty.get(parent);
    if (!s) dirty.set(parent, s = new Set());
    s.add(name);
  };
  for (const k of records.keys("dirty")) add(readU64(k) as Ino, utf8d.decode(k.subarray(8)));

  // A changed directory is a changed name in its parent, up to the root.
  const depth = new Map<Ino, number>([[ROOT_INO, 0]]);
  const depthOf = (ino: Ino): number => {
    const known = depth.get(ino);
    if (known !== undefined) return known;
    const i = head.inodes.get(ino);
    const d = !i || i.parent === 0 ? -1 : depthOf(i.parent) < 0 ? -1 : depthOf(i.parent) + 1;
    depth.set(ino, d);
    return d;
  };
  for (const parent of [...dirty.keys()]) {
    for (let ino = parent; ino !== ROOT_INO && depthOf(ino) > 0;) {
      const i = head.inodes.must(ino);
      add(i.parent as Ino, i.name);
      ino = i.parent as Ino;
    }
  }

  const previous = new PreviousTrees(p);
  const moved = new MovedFiles(p);
  const order = [...dirty.keys()].filter((d) => depthOf(d) >= 0).sort((a, b) => depthOf(b) - depthOf(a));
  for (const parent of order) {
    const dir = head.inodes.get(parent);
    if (!dir || dir.type !== "dir") continue;
    const edits: DirEdits = new Map();
    // Read before any directory of this snapshot is rebuilt: bases change as we go up.
    const prevTree = previous.of(dir);
    for (const name of dirty.get(parent)!) {
      const child = head.inodes.lookup(parent, name);
      // What the parent revision had under this name (looked up for files and removals only).
      const before = () => prevTree === null ? null : p.dirs.lookup(prevTree, name);
      if (child === undefined) {
        const gone = before();
        // One name of a file that keeps others: the file is not gone.
        if (!(gone?.link && head.inodes.get(gone.link.id as Ino))) moved.removed(name, gone);
        edits.set(name, null);
        continue;
      }
      const i = head.inodes.must(child);
      if (i.type === "file") {
        const prev = before();
        const e = foldFile(p, i, prev?.type === "file" ? prev.content : null);
        if (prev?.type !== "file") moved.appeared(name, e);
        edits.set(name, e);
      } else edits.set(name, entryOf(i));
    }
    const { root, before } = p.dirs.update(dir.base, edits);
    if (prevTree !== null && root !== null) p.laterDeltas.tree(prevTree, root);
    let bytes = dir.baseBytes;
    for (const [name, old] of before) bytes += entrySize(edits.get(name) ?? null) - entrySize(old);
    head.inodes.save({ ...dir, base: root, baseBytes: bytes });
  }
  moved.apply();
  for (const k of [...records.keys("dirty")]) records.del("dirty", k);
  // What the overlays held is the revision's now: no longer the head's alone to free.
  head.fresh.clear();

  const root = head.inodes.must(ROOT_INO);
  if (root.type !== "dir") throw new RevfsError("CORRUPT", "head root is not a directory");
  const parentRev = readU64(records.get("meta", HEAD_PARENT_KEY)!);
  const rev = p.log.append(parentRev, message, entryOf(root) as DirEntry);
  records.put("meta", HEAD_PARENT_KEY, u64Key(rev.rev));
  if (!opts.deltasLater) p.laterDeltas.make();
  return rev;
}

/**
 * Folds a file's overlay into a new base (a block map, or inline bytes for a small
 * file) and saves the file; returns its entry. `atPath` is the block map of the file at
 * the same path in the parent revision.
 */
function foldFile(p: SnapshotParts, f: FileInode, atPath: MapRoot | null): Entry {
  const files = p.head.files;
  const meta = metaOf(f);
  // A file with several names keeps one copy of its bytes: in a block, not in each directory.
  const given = p.imported?.small.get(f.ino);
  if (f.size <= INLINE_MAX && !f.links?.length) {
    const inline = new Uint8Array(f.size);
    const block = given ?? files.blockBytes(f, 0);
    if (block !== null) inline.set(block.subarray(0, f.size));
    // Its blocks are not the revision's: those only the head held are freed.
    if (!p.imported?.created.has(f.ino)) files.clearOverlay(f.ino, 0);
    p.head.inodes.save({ ...f, base: null, baseBlocks: f.size > 0 ? 1 : 0, inline: true });
    return { ...meta, type: "file", size: f.size, content: null, inline };
  }
  const edits = new Map(files.overlay(f.ino));
  // Not inline after all (a name was linked to it): its block gets its record.
  if (given) edits.set(0, p.head.fresh.put(given, kindOf(f.name)));
  const blocks = Math.ceil(f.size / files.blockSize);
  // A small file grown past INLINE_MAX: its inline block becomes a record.
  const inline = files.inlineBlock(f);
  if (inline && !edits.has(0)) edits.set(0, p.head.fresh.put(inline, kindOf(f.name)));
  deltaHistory(p, f, edits, blocks);
  if (atPath !== null && (f.base === null || !bytesEqual(atPath, f.base))) replacedAtPath(p, f, edits, blocks, atPath);
  // No shortcut on "no edits": a block-aligned truncate leaves no overlay entry but
  // must still cut the base map; an update with nothing to do returns `base` as is.
  const base = p.maps.update(f.base, f.baseBlocks, edits, blocks);
  // Map pages get deltas like directory pages (a one-block root has no page).
  const previous = mapPageOf(f.base ?? atPath), now = mapPageOf(base);
  if (previous !== undefined && now !== undefined) p.laterDeltas.tree(previous, now);
  files.clearOverlay(f.ino, 0, true);
  p.head.inodes.save({ ...f, base, baseBlocks: blocks, inline: false });
  return { ...meta, type: "file", size: f.size, content: base };
}

/**
 * Reverse deltas: each block this snapshot replaces becomes a delta on its newer
 * version (or a neighbour of it, for content that shifted across a boundary).
 */
function deltaHistory(p: SnapshotParts, f: FileInode, edits: Map<number, BlockHash | null>, blocks: number): void {
  const newAt = (idx: number): BlockHash | null => {
    if (idx < 0 || idx >= blocks) return null;
    if (edits.has(idx)) return edits.get(idx)!;
    return idx < f.baseBlocks ? p.maps.lookup(f.base, idx) : null;
  };
  // A replaced block the new version writes elsewhere (content that moved) is not history.
  const written = new Set([...edits.values()].filter((h): h is BlockHash => h !== null).map(hashKey));
  for (const [idx, newer] of edits) {
    if (newer === null) continue;
    // The base map is the last snapshot's, whole: a truncate shortens baseBlocks, not
    // the map. Look past baseBlocks too, or a file saved the usual way (truncated to
    // 0, then written) would never get deltas.
    const older = p.maps.lookup(f.base, idx);
    if (older === null || written.has(hashKey(older))) continue;
    const near = [newAt(idx + 1), newAt(idx - 1)].filter((h): h is BlockHash => h !== null);
    p.laterDeltas.block(older, newer, near);
  }
}

/**
 * Reverse deltas for a file that replaced another at its path (renamed over it, or
 * created after it was unlinked): each block of the replaced version that the new one
 * does not hold becomes a delta on the new version's block at that index, or near it.
 * O(blocks of both versions): the whole file was written anew.
 */
function replacedAtPath(
  p: SnapshotParts,
  f: FileInode,
  edits: Map<number, BlockHash | null>,
  blocks: number,
  atPath: MapRoot,
): void {
  const now: (BlockHash | null)[] = new Array(blocks).fill(null);
  for (const [idx, h] of p.maps.present(f.base)) {
    if (idx >= Math.min(f.baseBlocks, blocks)) break;
    now[idx] = h;
  }
  for (const [idx, h] of edits) if (idx < blocks) now[idx] = h;
  // A block the new version still holds (anywhere) is not history: it stays whole.
  const kept = new Set(now.filter((h): h is BlockHash => h !== null).map(hashKey));
  const last = blocks - 1;
  for (const [idx, older] of p.maps.present(atPath)) {
    if (kept.has(hashKey(older))) continue;
    const at = Math.min(idx, last);
    const near = [now[at], now[at + 1], now[at - 1]].filter((h): h is BlockHash => h !== null && h !== undefined);
    if (near.length > 0) p.laterDeltas.block(older, near[0], near.slice(1));
  }
}

/**
 * The directory tree each head directory had in the parent revision: its own base, or,
 * for a directory made since (deleted and made again, as `tar -x` and checkouts do),
 * the tree at its path in its parent's previous tree.
 */
class PreviousTrees {
  private readonly known = new Map<Ino, PageHash | null>();

  constructor(private readonly p: SnapshotParts) {}

  of(dir: DirInode): PageHash | null {
    if (dir.base !== null) return dir.base;
    let t = this.known.get(dir.ino);
    if (t !== undefined) return t;
    t = null;
    const parent = dir.parent === 0 ? undefined : this.p.head.inodes.get(dir.parent);
    if (parent?.type === "dir") {
      const up = this.of(parent);
      const e = up === null ? null : this.p.dirs.lookup(up, dir.name);
      if (e?.type === "dir") t = e.content;
    }
    this.known.set(dir.ino, t);
    return t;
  }
}
