/**
 * Turning the head into an immutable revision, and the decisions a snapshot makes.
 *
 * Only names marked in `dirty` are visited: each changed file's overlay is folded into
 * a new block map, each changed directory gets a copy-on-write update of its tree,
 * deepest first, up to the root. Cost is O(changed files, blocks and names), not O(tree).
 *
 * The reverse-delta policy lives here too: a block a snapshot replaces becomes a delta
 * on its newer version, so the head never reads through a chain.
 */
import { readU64, u64Key, utf8, utf8d } from "../codec.ts";
import type { BlockStore } from "../blocks/block_store.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import type { DirEdits, DirTrees } from "../tree/dir_tree.ts";
import type { RecordStore } from "../records/records.ts";
import type { RevisionLog } from "../tree/revisions.ts";
import { type BlockHash, type DirEntry, type Entry, type Ino, RevfsError, type Revision, ROOT_INO } from "../types.ts";
import type { Head } from "./head.ts";
import type { FileInode, Inode } from "./inode.ts";

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
}

function entrySize(e: Entry | null): number {
  return e === null || e.type === "symlink" ? 0 : e.size;
}

function entryOf(i: Inode): Entry {
  const meta = { mode: i.mode, uid: i.uid, gid: i.gid, mtimeNs: i.mtimeNs };
  switch (i.type) {
    case "file":
      return { ...meta, type: "file", size: i.size, content: i.base };
    case "dir":
      return { ...meta, type: "dir", size: i.baseBytes, content: i.base };
    case "symlink":
      return { ...meta, type: "symlink", target: i.target };
  }
}

/** Takes a snapshot; must run inside a write transaction. */
export function takeSnapshot(p: SnapshotParts, message: string): Revision {
  const { records, head } = p;
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

  const order = [...dirty.keys()].filter((d) => depthOf(d) >= 0).sort((a, b) => depthOf(b) - depthOf(a));
  for (const parent of order) {
    const dir = head.inodes.get(parent);
    if (!dir || dir.type !== "dir") continue;
    const edits: DirEdits = new Map();
    for (const name of dirty.get(parent)!) {
      const child = head.inodes.lookup(parent, name);
      if (child === undefined) {
        edits.set(name, null);
        continue;
      }
      let i = head.inodes.must(child);
      if (i.type === "file") i = foldFile(p, i);
      edits.set(name, entryOf(i));
    }
    const { root, before } = p.dirs.update(dir.base, edits);
    let bytes = dir.baseBytes;
    for (const [name, old] of before) bytes += entrySize(edits.get(name) ?? null) - entrySize(old);
    head.inodes.save({ ...dir, base: root, baseBytes: bytes });
  }
  for (const k of [...records.keys("dirty")]) records.del("dirty", k);

  const root = head.inodes.must(ROOT_INO);
  if (root.type !== "dir") throw new RevfsError("CORRUPT", "head root is not a directory");
  const parentRev = readU64(records.get("meta", HEAD_PARENT_KEY)!);
  const rev = p.log.append(parentRev, message, entryOf(root) as DirEntry);
  records.put("meta", HEAD_PARENT_KEY, u64Key(rev.rev));
  return rev;
}

/** Folds a file's overlay into a new base block map; returns the file as saved. */
function foldFile(p: SnapshotParts, f: FileInode): FileInode {
  const files = p.head.files;
  const edits = new Map(files.overlay(f.ino));
  const blocks = Math.ceil(f.size / files.blockSize);
  deltaHistory(p, f, edits, blocks);
  // No shortcut on "no edits": a block-aligned truncate leaves no overlay entry but
  // must still cut the base map; an update with nothing to do returns `base` as is.
  const base = p.maps.update(f.base, f.baseBlocks, edits, blocks);
  files.clearOverlay(f.ino, 0);
  const out: FileInode = { ...f, base, baseBlocks: blocks };
  p.head.inodes.save(out);
  return out;
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
  for (const [idx, newer] of edits) {
    if (newer === null) continue;
    // The base map is the last snapshot's, whole: a truncate shortens baseBlocks, not
    // the map. Look past baseBlocks too, or a file saved the usual way (truncated to
    // 0, then written) would never get deltas.
    const older = p.maps.lookup(f.base, idx);
    if (older === null) continue;
    const near = [newAt(idx + 1), newAt(idx - 1)].filter((h): h is BlockHash => h !== null);
    p.blocks.supersede(older, newer, near);
  }
}
