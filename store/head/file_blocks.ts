/**
 * A head file's blocks: the block map of its last snapshot (`base`, its first
 * `baseBlocks` blocks still the file's) under an `overlay` of block hashes written
 * since (table `overlay`: ino + index -> hash, empty for a hole). A snapshot folds the
 * overlay into a new base (store/head/snapshot.ts). A small file's base is instead its
 * inline entry in its directory's last snapshot (`inline`): one block, with no record
 * of its own.
 *
 * Methods that change records must run inside a write transaction.
 */
import { readU64, u64Key, u64KeyPair } from "../codec.ts";
import { BlockStore } from "../blocks/block_store.ts";
import { kindOf } from "../blocks/dicts.ts";
import { bytesEqual } from "../blocks/hash.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import type { DirTrees } from "../tree/dir_tree.ts";
import { prefixEnd, type RecordStore } from "../records/records.ts";
import { type BlockHash, type Ino, RevfsError } from "../types.ts";
import type { FileInode } from "./inode.ts";
import { type Inodes, nowNs } from "./inodes.ts";
import type { FreshBlocks } from "./fresh_blocks.ts";
import { copyBytes } from "../../sys/small_bytes.ts";

const EMPTY = new Uint8Array(0);

/** A file's new blocks for a writeout: whole blocks by index, with the file's size and mtime. */
export interface FileWriteout {
  ino: Ino;
  size: number;
  mtimeNs: bigint;
  /** The ctime the mount showed (the kernel's, with writeback caching); now when not given. */
  ctimeNs?: bigint;
  blocks: [number, Uint8Array][];
}

function sameHash(a: BlockHash | null, b: BlockHash | null): boolean {
  return a === b || (a !== null && b !== null && bytesEqual(a, b));
}

export class FileBlocks {
  constructor(
    private readonly records: RecordStore,
    private readonly inodes: Inodes,
    private readonly blocks: BlockStore,
    private readonly maps: BlockMaps,
    private readonly dirs: DirTrees,
    private readonly fresh: FreshBlocks,
    readonly blockSize: number,
  ) {}

  /**
   * Hash of block `index` of a file as the head has it; null for a hole. An inline
   * block (see `inlineBlock`) has no record: its hash is only for comparing.
   */
  blockHash(f: FileInode, index: number): BlockHash | null {
    if (index * this.blockSize >= f.size) return null;
    const v = this.records.get("overlay", u64KeyPair(f.ino, index));
    if (v !== undefined) return v.length === 0 ? null : copyBytes(v) as BlockHash;
    if (index >= f.baseBlocks) return null;
    // What `put` would name it: for comparing only.
    if (f.inline) return BlockStore.hashOf(this.inlineBase(f));
    return this.maps.lookup(f.base, index);
  }

  /**
   * Block 0 of a small file when it reads from its directory's last snapshot (no
   * record of its own: read it here, not by hash); undefined otherwise.
   */
  inlineBlock(f: FileInode): Uint8Array | undefined {
    if (!f.inline || f.baseBlocks < 1 || f.size === 0) return undefined;
    if (this.records.has("overlay", u64KeyPair(f.ino, 0))) return undefined;
    return this.inlineBase(f);
  }

  /** The bytes of a file's inline base: its entry in its parent's base directory tree. */
  private inlineBase(f: FileInode): Uint8Array {
    const dir = f.parent === 0 ? undefined : this.inodes.get(f.parent);
    const e = dir?.type === "dir" ? this.dirs.lookup(dir.base, f.name) : null;
    if (e?.type !== "file" || !e.inline) {
      throw new RevfsError("CORRUPT", "its inline content is missing from its directory", { path: f.name });
    }
    return e.inline;
  }

  /** A block's bytes as the head has it (canonical: trailing zeros may be missing); null for a hole. */
  blockBytes(f: FileInode, index: number): Uint8Array | null {
    if (index === 0) {
      const inline = this.inlineBlock(f);
      if (inline) return inline;
    }
    const h = this.blockHash(f, index);
    return h === null ? null : this.blocks.get(h);
  }

  /**
   * Before a file leaves the name its inline base is found under (rename, unlink while
   * open): its inline block is copied into the overlay. Returns the file as saved.
   */
  detachInline(f: FileInode): FileInode {
    if (!f.inline) return f;
    const inline = this.inlineBlock(f);
    if (inline) this.setOverlay(f.ino, 0, this.fresh.put(inline, kindOf(f.name)));
    const out: FileInode = { ...f, inline: false };
    this.inodes.save(out);
    return out;
  }

  /** Overlay entries of a file, in index order. */
  *overlay(ino: Ino): Iterable<[number, BlockHash | null]> {
    const prefix = u64Key(ino);
    for (const [k, v] of this.records.range("overlay", { start: prefix, end: prefixEnd(prefix) })) {
      yield [readU64(k, 8), v.length === 0 ? null : copyBytes(v) as BlockHash];
    }
  }

  /** The blocks of a file that are not holes, in index order: its base map under its overlay. */
  presentBlocks(f: FileInode): [number, BlockHash][] {
    const blocks = Math.ceil(f.size / this.blockSize);
    const out = new Map<number, BlockHash>();
    if (f.inline) {
      const h = f.baseBlocks > 0 && blocks > 0 ? BlockStore.hashOf(this.inlineBase(f)) : null;
      if (h !== null) out.set(0, h);
    } else {
      for (const [idx, h] of this.maps.present(f.base)) {
        if (idx >= f.baseBlocks || idx >= blocks) break;
        out.set(idx, h);
      }
    }
    for (const [idx, h] of this.overlay(f.ino)) {
      if (h === null || idx >= blocks) out.delete(idx);
      else out.set(idx, h);
    }
    return [...out].sort((a, b) => a[0] - b[0]);
  }

  /** Sets a slot; a block only the head held and no slot names any more is deleted (fresh_blocks.ts). */
  setOverlay(ino: Ino, index: number, hash: BlockHash | null): void {
    const key = u64KeyPair(ino, index);
    const old = this.records.get("overlay", key);
    if (hash !== null) this.fresh.ref(hash);
    this.records.put("overlay", key, hash ?? EMPTY);
    if (old !== undefined && old.length > 0) this.fresh.unref(old as BlockHash);
  }

  /**
   * Drops overlay entries from `fromIndex` on, and frees the blocks only they held;
   * with `kept` (a snapshot folding them into a revision), frees nothing.
   */
  clearOverlay(ino: Ino, fromIndex: number, kept = false): void {
    const start = u64KeyPair(ino, fromIndex);
    const end = prefixEnd(u64Key(ino));
    for (const [k, v] of [...this.records.range("overlay", { start, end })].map(([k, v]) => [k.slice(), v.slice()])) {
      this.records.del("overlay", k);
      if (v.length > 0 && !kept) this.fresh.unref(v as BlockHash);
    }
  }

  /** Truncates or extends (not saved: the caller saves the inode); bytes past the old end read as zeros. */
  resize(f: FileInode, size: number): FileInode {
    if (!Number.isSafeInteger(size) || size < 0) throw new RevfsError("INVALID", `invalid file size ${size}`);
    const bs = this.blockSize;
    const blocks = Math.ceil(size / bs);
    if (size < f.size) {
      this.clearOverlay(f.ino, blocks);
      const tail = size % bs;
      if (tail !== 0) {
        const idx = blocks - 1;
        const data = this.blockBytes(f, idx);
        if (data !== null && data.length > tail) {
          this.setOverlay(f.ino, idx, this.fresh.put(data.subarray(0, tail), kindOf(f.name)));
        }
      }
    }
    return { ...f, size, baseBlocks: Math.min(f.baseBlocks, blocks), mtimeNs: nowNs() };
  }

  /**
   * Sets the blocks of a file to already-stored hashes (import) and its size. `hashes`
   * is complete: a block it does not list is a hole. Blocks equal to what the head
   * holds are not touched. `isNew`: the file was just made and holds no blocks yet.
   */
  setBlocks(
    ino: Ino,
    size: number,
    hashes: Iterable<[number, BlockHash | null]>,
    mtimeNs?: bigint,
    isNew = false,
  ): FileInode {
    const i = this.inodes.file(ino);
    let f = i.size === size ? i : this.resize(i, size);
    if (mtimeNs !== undefined && f.mtimeNs !== mtimeNs) f = { ...f, mtimeNs };
    let changed = f !== i;
    const listed = new Set<number>();
    const set = (idx: number, h: BlockHash | null) => {
      if (sameHash(this.blockHash(f, idx), h)) return;
      this.setOverlay(ino, idx, h);
      changed = true;
    };
    for (const [idx, h] of hashes) {
      listed.add(idx);
      set(idx, h);
    }
    // A new file, or one that was empty, has no blocks to clear.
    if (!isNew && i.size > 0) {
      for (const [idx] of this.presentBlocks(i)) if (!listed.has(idx) && idx * this.blockSize < size) set(idx, null);
    }
    if (changed) {
      f = { ...f, ctimeNs: nowNs() };
      this.inodes.saveChanged(f);
    }
    return f;
  }

  /**
   * Points blocks of a file at blocks already stored (a reflink copy: copy_file_range),
   * growing it to at least `size`; nothing is stored. Inside a write transaction.
   */
  shareBlocks(ino: Ino, size: number, blocks: [number, BlockHash | null][]): FileInode {
    const i = this.inodes.file(ino);
    let f: FileInode = size > i.size ? { ...i, size } : i;
    for (const [idx, h] of blocks) {
      // Within the file's size only; the block of an inline base has no record to share.
      if (idx * this.blockSize >= f.size || sameHash(this.blockHash(f, idx), h)) continue;
      this.setOverlay(ino, idx, h);
    }
    const t = nowNs();
    f = { ...f, mtimeNs: t, ctimeNs: t };
    this.inodes.saveChanged(f);
    return f;
  }

  /** Writes bytes at an offset, extending the file as needed; unchanged blocks are not stored. */
  write(ino: Ino, offset: number, data: Uint8Array): FileInode {
    const i = this.inodes.file(ino);
    const bs = this.blockSize;
    const end = offset + data.length;
    let f: FileInode = end > i.size ? { ...i, size: end } : i;
    for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
      const blockStart = idx * bs;
      const inline = idx === 0 ? this.inlineBlock(i) : undefined;
      const old = this.blockHash(i, idx);
      const buf = new Uint8Array(Math.min(bs, f.size - blockStart));
      const had = inline ?? (old === null ? null : this.blocks.get(old));
      if (had !== null) buf.set(had.subarray(0, buf.length));
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockStart + bs);
      buf.set(data.subarray(from - offset, to - offset), from - blockStart);
      const h = this.fresh.put(buf, kindOf(i.name));
      if (sameHash(old, h)) {
        // Equal to an inline block, which has no record: the one just made is not needed.
        if (h !== null) this.fresh.dropIfUnheld(h);
        continue;
      }
      this.setOverlay(ino, idx, h);
    }
    const t = nowNs();
    f = { ...f, mtimeNs: t, ctimeNs: t };
    this.inodes.saveChanged(f);
    return f;
  }

  /**
   * Writes whole blocks (a page cache's writeout) and sets size and mtime. A block equal
   * to the head's is not stored or touched. Returns each block's hash (null: all zeros),
   * in the order given; undefined when the file no longer exists.
   */
  writeBlocks(w: FileWriteout): [number, BlockHash | null][] | undefined {
    const i = this.inodes.get(w.ino);
    if (i?.type !== "file") return undefined;
    // Only ever grows here: a cache flushes a file before it is truncated.
    const f: FileInode = w.size > i.size ? { ...i, size: w.size } : i;
    const out: [number, BlockHash | null][] = [];
    for (const [idx, data] of w.blocks) {
      // Bytes past the end of the file are not the file's (and, in a small file's
      // block, are most of what put would scan for trailing zeros).
      const inFile = data.subarray(0, Math.max(0, Math.min(data.length, f.size - idx * this.blockSize)));
      const h = this.fresh.put(inFile, kindOf(i.name));
      out.push([idx, h]);
      if (sameHash(this.blockHash(i, idx), h)) {
        if (h !== null) this.fresh.dropIfUnheld(h);
        continue;
      }
      this.setOverlay(w.ino, idx, h);
    }
    this.inodes.saveChanged({ ...f, mtimeNs: w.mtimeNs, ctimeNs: w.ctimeNs ?? nowNs() });
    return out;
  }
}
