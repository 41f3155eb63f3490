/**
 * The head's records: `inodes` (ino -> inode) and `dirents` (parent ino + name -> ino),
 * with `dirty`, the names a snapshot must revisit. Reads and single-record writes
 * only; what a change means (create, rename, unlink) is store/head/namespace.ts.
 */
import { decodeUtf8, readU64, u64Key, utf8, utf8Bytes } from "../codec.ts";
import { splitPath } from "../paths.ts";
import { prefixEnd, type RecordStore } from "../records/records.ts";
import { type EntryType, type Ino, RevfsError, ROOT_INO } from "../types.ts";
import { decodeInode, type DirInode, encodeInode, type FileInode, type Inode, namesOf } from "./inode.ts";

const META_NEXT_INO = utf8.encode("nextIno");
const EMPTY = new Uint8Array(0);
const ONE_BYTE = new Uint8Array(1);

export function direntKey(parent: Ino, name: string): Uint8Array {
  return u64Key(parent, utf8Bytes(name));
}

/**
 * A dirent's value: the inode number, then (format 7) the node's type, so that listing a
 * directory reads no inode (d_type). A value of format 6 has no type byte.
 */
const DIRENT_TYPES: readonly (EntryType | undefined)[] = [
  undefined,
  "file",
  "dir",
  "symlink",
  "fifo",
  "socket",
  "chardev",
  "blockdev",
];

function direntValue(ino: Ino, type: EntryType): Uint8Array {
  const v = u64Key(ino, ONE_BYTE); // the type byte follows
  v[8] = DIRENT_TYPES.indexOf(type);
  return v;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Decoded inodes kept at most; past it the cache starts over. */
const CACHED_INODES = 1 << 16;

export class Inodes {
  /**
   * Decoded inodes, so that a walk (a lookup, attributes, the kernel letting go) does
   * not read and decode one several times: half of a readdirplus's time. Inodes are
   * values (changed by copying, never in place), so one object serves every reader.
   */
  private readonly decoded = new Map<Ino, Inode>();
  private undone: number;

  constructor(private readonly records: RecordStore) {
    this.undone = records.undone;
  }

  get(ino: Ino): Inode | undefined {
    if (this.records.undone !== this.undone) this.forgetDecoded();
    const kept = this.decoded.get(ino);
    if (kept) return kept;
    const v = this.records.get("inodes", u64Key(ino));
    if (v === undefined) return undefined;
    const i = decodeInode(ino, v);
    this.keep(i);
    return i;
  }

  private keep(i: Inode): void {
    if (this.decoded.size >= CACHED_INODES) this.decoded.clear();
    this.decoded.set(i.ino, i);
  }

  /** Drops the decoded inodes: records changed under them (undone, or replayed from a log). */
  forgetDecoded(): void {
    this.decoded.clear();
    this.undone = this.records.undone;
  }

  /** The inode, or a CORRUPT error: for inodes a dirent or the caller says exist. */
  must(ino: Ino): Inode {
    const i = this.get(ino);
    if (!i) throw new RevfsError("CORRUPT", `head inode ${ino} is missing`);
    return i;
  }

  /** An inode the caller names (the kernel may ask about one just removed). */
  named(ino: Ino): Inode {
    const i = this.get(ino);
    if (!i) throw new RevfsError("NO_SUCH_PATH", `inode ${ino} does not exist`);
    return i;
  }

  /** A file the caller names. */
  file(ino: Ino): FileInode {
    const i = this.named(ino);
    if (i.type !== "file") throw new RevfsError("IS_A_DIR", `is not a file`, { path: i.name });
    return i;
  }

  /** A directory the caller names. */
  dir(ino: Ino): DirInode {
    const p = this.get(ino);
    if (!p) throw new RevfsError("NO_SUCH_PATH", `no directory with inode ${ino}`);
    if (p.type !== "dir") throw new RevfsError("NOT_A_DIR", `is not a directory`, { path: p.name });
    return p;
  }

  lookup(parent: Ino, name: string): Ino | undefined {
    const v = this.records.get("dirents", direntKey(parent, name));
    return v === undefined ? undefined : readU64(v) as Ino;
  }

  /** Names in a directory with their inode and its type, in byte order of their UTF-8 encoding. */
  *readdir(parent: Ino): Iterable<[string, Ino, EntryType]> {
    const prefix = u64Key(parent);
    for (const [k, v] of this.records.range("dirents", { start: prefix, end: prefixEnd(prefix) })) {
      const ino = readU64(v) as Ino;
      // A format 6 dirent has no type: its inode says.
      const type = DIRENT_TYPES[v[8]] ?? this.must(ino).type;
      yield [decodeUtf8(k.subarray(8)), ino, type];
    }
  }

  isEmptyDir(ino: Ino): boolean {
    for (const _ of this.readdir(ino)) return false;
    return true;
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

  /** Every inode, named or not (open after unlink, or left so by a crash). */
  *all(): Iterable<Inode> {
    for (const [k, v] of this.records.range("inodes")) yield decodeInode(readU64(k) as Ino, v);
  }

  /**
   * The inodes without a name (open after unlink, or left so by a crash), found
   * without decoding the others: a mount looks for them at every start, and decoding
   * every inode of a large tree took longer than the rest of mounting.
   */
  *unnamed(): Iterable<Inode> {
    for (const [k, v] of this.records.range("inodes")) {
      // The parent, a varint after the type byte: 0 is one zero byte (store/head/inode.ts).
      if (v[1] === 0) yield decodeInode(readU64(k) as Ino, v);
    }
  }

  save(i: Inode): void {
    this.records.put("inodes", u64Key(i.ino), encodeInode(i));
    this.keep(i);
  }

  delete(ino: Ino): void {
    this.records.del("inodes", u64Key(ino));
    this.decoded.delete(ino);
  }

  /** Saves the inode and marks its names for the next snapshot. */
  saveChanged(i: Inode): void {
    this.save(i);
    for (const [parent, name] of namesOf(i)) this.markName(parent, name);
  }

  /** Marks a name for the next snapshot: it was added, changed or removed. */
  markName(parent: Ino, name: string): void {
    this.records.put("dirty", direntKey(parent, name), EMPTY);
  }

  /** Forgets the marks below a directory (its children match its base, or it is gone). */
  clearMarks(dir: Ino): void {
    const prefix = u64Key(dir);
    for (const k of [...this.records.keys("dirty", { start: prefix, end: prefixEnd(prefix) })]) {
      this.records.del("dirty", k);
    }
  }

  /** Gives an inode its name: the dirent, the inode, the mark. */
  link(i: Inode): void {
    if (i.parent === 0) throw new Error("link of an inode with no parent");
    this.records.put("dirents", direntKey(i.parent, i.name), direntValue(i.ino, i.type));
    this.saveChanged(i);
  }

  /** One more name of `ino` (a rename's new name, a hard link): the dirent and the mark. */
  addName(parent: Ino, name: string, i: Inode): void {
    this.records.put("dirents", direntKey(parent, name), direntValue(i.ino, i.type));
    this.markName(parent, name);
  }

  unlink(parent: Ino, name: string): void {
    this.records.del("dirents", direntKey(parent, name));
    this.markName(parent, name);
  }

  allocIno(): Ino {
    const v = this.records.get("meta", META_NEXT_INO);
    const ino = (v ? readU64(v) : ROOT_INO + 1) as Ino;
    this.records.put("meta", META_NEXT_INO, u64Key(ino + 1));
    return ino;
  }

  /** The root directory of an empty store. */
  initRoot(mode: number, uid: number, gid: number): void {
    const t = nowNs();
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
  }

  /** A directory's mtime and ctime after a name in it changed. */
  touchDir(dir: DirInode): void {
    const t = nowNs();
    this.saveChanged({ ...dir, mtimeNs: t, ctimeNs: t });
  }
}
