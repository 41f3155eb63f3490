/**
 * The head: the working state a writer changes (the mount, `import`, `restore`).
 *
 * It is an inode namespace persisted in LMDB: `inodes` (ino -> inode), `dirents`
 * (parent ino + name -> ino), and per-file `overlay` block hashes written since the
 * file's `base` block map. Every change marks the changed name in `dirty`, so a
 * snapshot (store/snapshot.ts) rebuilds only the changed files and directories.
 *
 * All methods that change state must run inside a write transaction; they call
 * `records.write` themselves, so a caller may group several into one.
 */
import { readU64, u64Key, u64KeyPair, utf8, utf8d } from "./codec.ts";
import type { BlockStore } from "./blocks.ts";
import { bytesEqual } from "./hash.ts";
import { kindOf } from "./dicts.ts";
import type { BlockMaps } from "./block_map.ts";
import type { DirTrees } from "./dir_tree.ts";
import { readRange } from "./read_range.ts";
import { decodeInode, type DirInode, encodeInode, type FileInode, type Inode } from "./inode.ts";
import { prefixEnd, type RecordStore } from "./records.ts";
import { type BlockHash, type Entry, type Ino, type PageHash, RevfsError, ROOT_INO } from "./types.ts";

const META_NEXT_INO = utf8.encode("nextIno");
const EMPTY = new Uint8Array(0);
export const MAX_NAME_BYTES = 255;

export type HeadReference =
  | { kind: "file"; root: PageHash | null }
  | { kind: "dir"; root: PageHash | null }
  | { kind: "block"; hash: BlockHash };

export interface NewNode {
  type: "file" | "dir" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  target?: string;
}

export interface AttrChange {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeNs?: bigint;
  size?: number;
}

export function direntKey(parent: Ino, name: string): Uint8Array {
  return u64Key(parent, utf8.encode(name));
}

export function checkName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new RevfsError("INVALID", `invalid file name ${JSON.stringify(name)}`);
  }
  if (utf8.encode(name).length > MAX_NAME_BYTES) {
    throw new RevfsError("NAME_TOO_LONG", `file name longer than ${MAX_NAME_BYTES} bytes: ${name.slice(0, 40)}...`);
  }
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class Head {
  /** Inodes open in this process: losing their last name makes them orphans, not free. */
  private readonly pins = new Map<Ino, number>();

  constructor(
    private readonly records: RecordStore,
    private readonly blocks: BlockStore,
    private readonly maps: BlockMaps,
    private readonly dirs: DirTrees,
    readonly blockSize: number,
  ) {}

  /** Creates the root directory of an empty store. */
  initRoot(mode: number, uid: number, gid: number): void {
    const t = nowNs();
    this.records.write(() => {
      this.save({
        ino: ROOT_INO,
        parent: 0,
        name: "",
        type: "dir",
        mode,
        uid,
        gid,
        mtimeNs: t,
        ctimeNs: t,
        base: null,
        baseBytes: 0,
      });
      this.records.put("meta", META_NEXT_INO, u64Key(ROOT_INO + 1));
    });
  }

  inode(ino: Ino): Inode | undefined {
    const v = this.records.get("inodes", u64Key(ino));
    return v === undefined ? undefined : decodeInode(ino, v);
  }

  /** The inode, or a CORRUPT error: for inodes a dirent or the caller says exist. */
  mustInode(ino: Ino): Inode {
    const i = this.inode(ino);
    if (!i) throw new RevfsError("CORRUPT", `head inode ${ino} is missing`);
    return i;
  }

  /** An inode the caller names (the kernel may ask about one just removed). */
  private callerInode(ino: Ino): Inode {
    const i = this.inode(ino);
    if (!i) throw new RevfsError("NO_SUCH_PATH", `inode ${ino} does not exist`);
    return i;
  }

  lookup(parent: Ino, name: string): Ino | undefined {
    const v = this.records.get("dirents", direntKey(parent, name));
    return v === undefined ? undefined : readU64(v) as Ino;
  }

  /** Names in a directory, in byte order of their UTF-8 encoding. */
  *readdir(parent: Ino): Iterable<[string, Ino]> {
    const prefix = u64Key(parent);
    for (const [k, v] of this.records.range("dirents", { start: prefix, end: prefixEnd(prefix) })) {
      yield [utf8d.decode(k.subarray(8)), readU64(v) as Ino];
    }
  }

  /** Resolves a slash-separated path from the root; undefined when a part is missing. */
  resolve(path: string): Ino | undefined {
    let ino = ROOT_INO;
    for (const part of splitPath(path)) {
      const next = this.lookup(ino, part);
      if (next === undefined) return undefined;
      ino = next;
    }
    return ino;
  }

  save(i: Inode): void {
    this.records.put("inodes", u64Key(i.ino), encodeInode(i));
  }

  private markDirty(i: Inode): void {
    if (i.parent !== 0) this.records.put("dirty", direntKey(i.parent, i.name), EMPTY);
  }

  private allocIno(): Ino {
    const v = this.records.get("meta", META_NEXT_INO);
    const ino = (v ? readU64(v) : ROOT_INO + 1) as Ino;
    this.records.put("meta", META_NEXT_INO, u64Key(ino + 1));
    return ino;
  }

  private dirOf(parent: Ino): DirInode {
    const p = this.inode(parent);
    if (!p) throw new RevfsError("NO_SUCH_PATH", `no directory with inode ${parent}`);
    if (p.type !== "dir") throw new RevfsError("NOT_A_DIR", `${p.name} is not a directory`);
    return p;
  }

  /** Creates a name in `parent`; fails with EXISTS when it is taken. */
  create(parent: Ino, name: string, node: NewNode): Inode {
    checkName(name);
    return this.records.write(() => {
      const dir = this.dirOf(parent);
      if (this.lookup(parent, name) !== undefined) throw new RevfsError("EXISTS", `${name} already exists`);
      const t = nowNs();
      const common = {
        ino: this.allocIno(),
        parent,
        name,
        mode: node.mode & 0o7777,
        uid: node.uid,
        gid: node.gid,
        mtimeNs: node.mtimeNs,
        ctimeNs: t,
      };
      let inode: Inode;
      if (node.type === "file") inode = { ...common, type: "file", size: 0, base: null, baseBlocks: 0 };
      else if (node.type === "dir") inode = { ...common, type: "dir", base: null, baseBytes: 0 };
      else inode = { ...common, type: "symlink", target: node.target ?? "" };
      this.link(inode);
      this.touchDir(dir);
      return inode;
    });
  }

  private link(i: Inode): void {
    if (i.parent === 0) throw new Error("link of an inode with no parent");
    this.records.put("dirents", direntKey(i.parent, i.name), u64Key(i.ino));
    this.save(i);
    this.markDirty(i);
  }

  private touchDir(dir: DirInode): void {
    const t = nowNs();
    this.save({ ...dir, mtimeNs: t, ctimeNs: t });
    this.markDirty(dir);
  }

  /**
   * Makes `name` in `parent` hold what `entry` holds in a revision: a file shares the
   * revision's block map, a directory is recreated name by name. Replaces what was
   * there. O(number of names below `entry`).
   */
  materialize(parent: Ino, name: string, entry: Entry): Inode {
    checkName(name);
    return this.records.write(() => {
      const dir = this.dirOf(parent);
      if (this.lookup(parent, name) !== undefined) this.removeTree(parent, name);
      const inode = this.materializeAt(parent, name, entry);
      this.touchDir(dir);
      return inode;
    });
  }

  private materializeAt(parent: Ino, name: string, e: Entry): Inode {
    const common = {
      ino: this.allocIno(),
      parent,
      name,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtimeNs: e.mtimeNs,
      ctimeNs: nowNs(),
    };
    let inode: Inode;
    if (e.type === "file") {
      const blocks = Math.ceil(e.size / this.blockSize);
      // The head reads whole records: old versions restored from deltas are stored whole again.
      for (const [, h] of this.maps.present(e.content)) this.blocks.promote(h);
      inode = { ...common, type: "file", size: e.size, base: e.content, baseBlocks: blocks };
    } else if (e.type === "symlink") {
      inode = { ...common, type: "symlink", target: e.target };
    } else {
      inode = { ...common, type: "dir", base: e.content, baseBytes: e.size };
    }
    this.link(inode);
    if (e.type === "dir") {
      for (const [childName, child] of this.dirs.list(e.content)) this.materializeAt(inode.ino, childName, child);
      // The children match `base` exactly: nothing below needs a rebuild at snapshot.
      const prefix = u64Key(inode.ino);
      for (const k of [...this.records.keys("dirty", { start: prefix, end: prefixEnd(prefix) })]) {
        this.records.del("dirty", k);
      }
    }
    return inode;
  }

  /** Removes a name and, for a directory, everything below it. */
  removeTree(parent: Ino, name: string): void {
    this.records.write(() => {
      const ino = this.lookup(parent, name);
      if (ino === undefined) throw new RevfsError("NO_SUCH_PATH", `${name} does not exist`);
      const i = this.mustInode(ino);
      if (i.type === "dir") {
        for (const [child] of [...this.readdir(ino)]) this.removeTree(ino, child);
      }
      this.unlinkName(parent, name, i);
      this.touchDir(this.dirOf(parent));
    });
  }

  /** Removes a file or symlink name (`dir: false`) or an empty directory (`dir: true`). */
  remove(parent: Ino, name: string, dir: boolean): void {
    this.records.write(() => {
      const ino = this.lookup(parent, name);
      if (ino === undefined) throw new RevfsError("NO_SUCH_PATH", `${name} does not exist`);
      const i = this.mustInode(ino);
      if (dir && i.type !== "dir") throw new RevfsError("NOT_A_DIR", `${name} is not a directory`);
      if (!dir && i.type === "dir") throw new RevfsError("IS_A_DIR", `${name} is a directory`);
      if (dir && !this.isEmptyDir(ino)) throw new RevfsError("NOT_EMPTY", `${name} is not empty`);
      this.unlinkName(parent, name, i);
      this.touchDir(this.dirOf(parent));
    });
  }

  isEmptyDir(ino: Ino): boolean {
    for (const _ of this.readdir(ino)) return false;
    return true;
  }

  private unlinkName(parent: Ino, name: string, i: Inode): void {
    this.records.del("dirents", direntKey(parent, name));
    this.records.put("dirty", direntKey(parent, name), EMPTY);
    this.dropInode(i);
  }

  /** Keeps an inode alive while it is open, even after its last name is removed. */
  pin(ino: Ino): void {
    this.pins.set(ino, (this.pins.get(ino) ?? 0) + 1);
  }

  /** Undoes one `pin`; frees the inode when that was the last pin of an orphan. */
  unpin(ino: Ino): void {
    const n = (this.pins.get(ino) ?? 0) - 1;
    if (n > 0) {
      this.pins.set(ino, n);
      return;
    }
    this.pins.delete(ino);
    const i = this.inode(ino);
    if (i && i.parent === 0 && ino !== ROOT_INO) this.records.write(() => this.dropInode(i));
  }

  /** Frees orphans a previous writer left when it stopped with files open. */
  sweepOrphans(): number {
    let n = 0;
    this.records.write(() => {
      for (const [k, v] of [...this.records.range("inodes")]) {
        const i = decodeInode(readU64(k) as Ino, v);
        if (i.parent === 0 && i.ino !== ROOT_INO && !this.pins.has(i.ino)) {
          this.dropInode(i);
          n++;
        }
      }
    });
    return n;
  }

  private dropInode(i: Inode): void {
    if (this.pins.has(i.ino)) {
      // Open: keep data and attributes, without a name, until the last unpin.
      this.save({ ...i, parent: 0, name: "" });
      return;
    }
    if (i.type === "file") this.clearOverlay(i.ino, 0);
    if (i.type === "dir") {
      const prefix = u64Key(i.ino);
      for (const k of [...this.records.keys("dirty", { start: prefix, end: prefixEnd(prefix) })]) {
        this.records.del("dirty", k);
      }
    }
    this.records.del("inodes", u64Key(i.ino));
  }

  /**
   * Moves a name. An existing target is replaced when it is a file or symlink, or an
   * empty directory replaced by a directory.
   */
  rename(parent: Ino, name: string, newParent: Ino, newName: string): void {
    checkName(newName);
    this.records.write(() => {
      const ino = this.lookup(parent, name);
      if (ino === undefined) throw new RevfsError("NO_SUCH_PATH", `${name} does not exist`);
      const i = this.mustInode(ino);
      const from = this.dirOf(parent);
      const to = this.dirOf(newParent);
      if (parent === newParent && name === newName) return;
      if (i.type === "dir") {
        for (let a: Inode | undefined = to; a; a = a.parent === 0 ? undefined : this.inode(a.parent)) {
          if (a.ino === ino) throw new RevfsError("INVALID", `cannot move ${name} into itself`);
        }
      }
      const existing = this.lookup(newParent, newName);
      if (existing !== undefined) {
        const e = this.mustInode(existing);
        if (i.type === "dir" && e.type !== "dir") throw new RevfsError("NOT_A_DIR", `${newName} is not a directory`);
        if (i.type !== "dir" && e.type === "dir") throw new RevfsError("IS_A_DIR", `${newName} is a directory`);
        if (e.type === "dir" && !this.isEmptyDir(existing)) {
          throw new RevfsError("NOT_EMPTY", `${newName} is not empty`);
        }
        this.unlinkName(newParent, newName, e);
      }
      this.records.del("dirents", direntKey(parent, name));
      this.records.put("dirty", direntKey(parent, name), EMPTY);
      this.link({ ...i, parent: newParent, name: newName, ctimeNs: nowNs() });
      this.touchDir(from);
      if (newParent !== parent) this.touchDir(this.dirOf(newParent));
    });
  }

  setattr(ino: Ino, change: AttrChange): Inode {
    return this.records.write(() => {
      let i = this.callerInode(ino);
      i = {
        ...i,
        mode: change.mode !== undefined ? change.mode & 0o7777 : i.mode,
        uid: change.uid ?? i.uid,
        gid: change.gid ?? i.gid,
        ctimeNs: nowNs(),
      };
      if (change.size !== undefined) {
        if (i.type !== "file") throw new RevfsError("INVALID", `${i.name} is not a file`);
        i = this.resize(i, change.size);
      }
      if (change.mtimeNs !== undefined) i.mtimeNs = change.mtimeNs;
      this.save(i);
      this.markDirty(i);
      return i;
    });
  }

  /** Truncates or extends; bytes past the old end read as zeros. */
  private resize(f: FileInode, size: number): FileInode {
    if (!Number.isSafeInteger(size) || size < 0) throw new RevfsError("INVALID", `invalid file size ${size}`);
    const bs = this.blockSize;
    const blocks = Math.ceil(size / bs);
    if (size < f.size) {
      this.clearOverlay(f.ino, blocks);
      const tail = size % bs;
      if (tail !== 0) {
        const idx = blocks - 1;
        const h = this.blockHash(f, idx);
        if (h !== null) {
          const data = this.blocks.get(h);
          if (data.length > tail) this.setOverlay(f.ino, idx, this.blocks.put(data.subarray(0, tail), kindOf(f.name)));
        }
      }
    }
    return { ...f, size, baseBlocks: Math.min(f.baseBlocks, blocks), mtimeNs: nowNs() };
  }

  private clearOverlay(ino: Ino, fromIndex: number): void {
    const start = u64KeyPair(ino, fromIndex);
    const end = prefixEnd(u64Key(ino));
    for (const k of [...this.records.keys("overlay", { start, end })]) this.records.del("overlay", k);
  }

  private setOverlay(ino: Ino, index: number, hash: BlockHash | null): void {
    this.records.put("overlay", u64KeyPair(ino, index), hash ?? EMPTY);
  }

  /** Overlay entries of a file, in index order. */
  *overlay(ino: Ino): Iterable<[number, BlockHash | null]> {
    const prefix = u64Key(ino);
    for (const [k, v] of this.records.range("overlay", { start: prefix, end: prefixEnd(prefix) })) {
      yield [readU64(k, 8), v.length === 0 ? null : v.slice() as BlockHash];
    }
  }

  /** Hash of block `index` of a file as the head has it; null for a hole. */
  blockHash(f: FileInode, index: number): BlockHash | null {
    if (index * this.blockSize >= f.size) return null;
    const v = this.records.get("overlay", u64KeyPair(f.ino, index));
    if (v !== undefined) return v.length === 0 ? null : v.slice() as BlockHash;
    if (index >= f.baseBlocks) return null;
    return this.maps.lookup(f.base, index);
  }

  /**
   * Sets the blocks of a file to already-stored hashes (import) and its size. `hashes`
   * is complete: a block it does not list is a hole. Blocks equal to what the head
   * holds are not touched.
   */
  setBlocks(ino: Ino, size: number, hashes: Iterable<[number, BlockHash | null]>): FileInode {
    return this.records.write(() => {
      const i = this.callerInode(ino);
      if (i.type !== "file") throw new RevfsError("IS_A_DIR", `${i.name} is not a file`);
      let f = i.size === size ? i : this.resize(i, size);
      let changed = f !== i;
      const listed = new Set<number>();
      const set = (idx: number, h: BlockHash | null) => {
        const cur = this.blockHash(f, idx);
        if (cur === h || (cur !== null && h !== null && bytesEqual(cur, h))) return;
        this.setOverlay(ino, idx, h);
        changed = true;
      };
      for (const [idx, h] of hashes) {
        listed.add(idx);
        set(idx, h);
      }
      for (const [idx] of this.presentBlocks(i)) if (!listed.has(idx) && idx * this.blockSize < size) set(idx, null);
      if (changed) {
        f = { ...f, ctimeNs: nowNs() };
        this.save(f);
        this.markDirty(f);
      }
      return f;
    });
  }

  /** The blocks of a file that are not holes, in index order: its base map under its overlay. */
  presentBlocks(f: FileInode): [number, BlockHash][] {
    const blocks = Math.ceil(f.size / this.blockSize);
    const out = new Map<number, BlockHash>();
    for (const [idx, h] of this.maps.present(f.base as PageHash | null)) {
      if (idx >= f.baseBlocks || idx >= blocks) break;
      out.set(idx, h);
    }
    for (const [idx, h] of this.overlay(f.ino)) {
      if (h === null || idx >= blocks) out.delete(idx);
      else out.set(idx, h);
    }
    return [...out].sort((a, b) => a[0] - b[0]);
  }

  /** Writes bytes at an offset, extending the file as needed; unchanged blocks are not stored. */
  write(ino: Ino, offset: number, data: Uint8Array): FileInode {
    return this.records.write(() => {
      const i = this.callerInode(ino);
      if (i.type !== "file") throw new RevfsError("IS_A_DIR", `${i.name} is not a file`);
      const bs = this.blockSize;
      const end = offset + data.length;
      let f: FileInode = end > i.size ? { ...i, size: end } : i;
      for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
        const blockStart = idx * bs;
        const old = this.blockHash(i, idx);
        const buf = new Uint8Array(Math.min(bs, f.size - blockStart));
        if (old !== null) buf.set(this.blocks.get(old).subarray(0, buf.length));
        const from = Math.max(offset, blockStart);
        const to = Math.min(end, blockStart + bs);
        buf.set(data.subarray(from - offset, to - offset), from - blockStart);
        const h = this.blocks.put(buf, kindOf(i.name));
        if (old === h || (old !== null && h !== null && bytesEqual(old, h))) continue;
        this.setOverlay(ino, idx, h);
      }
      const t = nowNs();
      f = { ...f, mtimeNs: t, ctimeNs: t };
      this.save(f);
      this.markDirty(f);
      return f;
    });
  }

  /**
   * Writes whole blocks (a page cache's writeout) and sets size and mtime, in one
   * transaction. A block equal to the head's is not stored or touched. Returns each
   * block's hash (null: all zeros), in the order given.
   */
  writeBlocks(
    ino: Ino,
    size: number,
    mtimeNs: bigint,
    blocks: Iterable<[number, Uint8Array]>,
  ): [number, BlockHash | null][] {
    return this.records.write(() => {
      const i = this.callerInode(ino);
      if (i.type !== "file") throw new RevfsError("IS_A_DIR", `${i.name} is not a file`);
      // Only ever grows here: a cache flushes a file before it is truncated.
      const f: FileInode = size > i.size ? { ...i, size } : i;
      const out: [number, BlockHash | null][] = [];
      for (const [idx, data] of blocks) {
        // Bytes past the end of the file are not the file's (and, in a small file's
        // block, are most of what put would scan for trailing zeros).
        const inFile = data.subarray(0, Math.max(0, Math.min(data.length, f.size - idx * this.blockSize)));
        const h = this.blocks.put(inFile, kindOf(i.name));
        out.push([idx, h]);
        const cur = this.blockHash(i, idx);
        if (cur === h || (cur !== null && h !== null && bytesEqual(cur, h))) continue;
        this.setOverlay(ino, idx, h);
      }
      const saved = { ...f, mtimeNs, ctimeNs: nowNs() };
      this.save(saved);
      this.markDirty(saved);
      return out;
    });
  }

  /** Reads up to `length` bytes at `offset` (short at end of file). */
  read(ino: Ino, offset: number, length: number): Uint8Array {
    const i = this.callerInode(ino);
    if (i.type !== "file") throw new RevfsError("IS_A_DIR", `${i.name} is not a file`);
    return readRange(
      i.size,
      offset,
      length,
      this.blockSize,
      (idx) => {
        const h = this.blockHash(i, idx);
        return h === null ? null : this.blocks.get(h);
      },
    );
  }

  /** Folds a file's overlay into a new base block map (snapshot); returns the map. */
  commitFile(f: FileInode): FileInode {
    const edits = new Map(this.overlay(f.ino));
    const blocks = Math.ceil(f.size / this.blockSize);
    this.deltaHistory(f, edits, blocks);
    // No shortcut on "no edits": a block-aligned truncate leaves no overlay entry but
    // must still cut the base map; an update with nothing to do returns `base` as is.
    const base = this.maps.update(f.base, f.baseBlocks, edits, blocks);
    this.clearOverlay(f.ino, 0);
    const out: FileInode = { ...f, base, baseBlocks: blocks };
    this.save(out);
    return out;
  }

  /**
   * Reverse deltas: each block this snapshot replaces becomes a delta on its newer
   * version (or a neighbour of it, for content that shifted across a boundary).
   */
  private deltaHistory(f: FileInode, edits: Map<number, BlockHash | null>, blocks: number): void {
    const newAt = (idx: number): BlockHash | null => {
      if (idx < 0 || idx >= blocks) return null;
      if (edits.has(idx)) return edits.get(idx)!;
      return idx < f.baseBlocks ? this.maps.lookup(f.base, idx) : null;
    };
    for (const [idx, newer] of edits) {
      if (newer === null) continue;
      // The base map is the last snapshot's, whole: a truncate shortens baseBlocks, not
      // the map. Look past baseBlocks too, or a file saved the usual way (truncated to
      // 0, then written) would never get deltas.
      const older = this.maps.lookup(f.base, idx);
      if (older === null) continue;
      const near = [newAt(idx + 1), newAt(idx - 1)].filter((h): h is BlockHash => h !== null);
      this.blocks.supersede(older, newer, near);
    }
  }

  /** Every page and block the head needs beyond what revisions hold, for gc. */
  *references(): Iterable<HeadReference> {
    for (const [k, v] of this.records.range("inodes")) {
      const i = decodeInode(readU64(k) as Ino, v);
      if (i.type === "file") yield { kind: "file", root: i.base };
      else if (i.type === "dir") yield { kind: "dir", root: i.base };
    }
    for (const v of this.records.range("overlay")) {
      if (v[1].length !== 0) yield { kind: "block", hash: v[1] as BlockHash };
    }
  }
}

/** Path parts; `..` is refused, so a path never leaves the tree it names. */
export function splitPath(path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new RevfsError("INVALID", `path may not contain "..": ${path}`);
  if (path.includes("\0")) throw new RevfsError("INVALID", `path may not contain a NUL byte`);
  return parts;
}
