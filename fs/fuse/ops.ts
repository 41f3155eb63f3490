/**
 * What a filesystem implements to be served by FuseSession: one method per FUSE
 * request, in plain TypeScript values. Inode numbers are numbers (FUSE's root is 1).
 * A method may return a value or a promise; it throws FuseError (or anything the
 * handler's `errnoOf` maps) to answer with an errno. Names and link targets arrive
 * as strings, copied out of libfuse's buffers; write data does not (see `write`).
 */
export type Maybe<T> = T | Promise<T>;

export { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from "../../sys/libc.ts";

export interface Attr {
  ino: number;
  /** Type and permission bits, as in st_mode. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** A device node's number (st_rdev). */
  rdev?: number;
}

export interface EntryOut {
  attr: Attr;
  /** Seconds the kernel may cache the name and the attributes. */
  entryTimeout: number;
  attrTimeout: number;
}

export interface OpenOut {
  fh: number;
  directIo?: boolean;
  /** Keep the kernel's page cache of this file across opens (the file did not change). */
  keepCache?: boolean;
}

export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

export interface SetAttrIn {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  /** The kernel's own ctime, sent with the times it writes back (writeback cache). */
  ctimeNs?: bigint;
}

export interface DirEntryOut {
  name: string;
  ino: number;
  mode: number;
}

/**
 * The part of a listing a readdir replies with: the entries from index `from` on, as
 * many as fit; entry i's offset (where a reader goes on after it) is `base + i + 1`.
 */
export interface ListingPart {
  entries: DirEntryOut[];
  from: number;
  base: number;
}

export interface StatfsOut {
  blockSize: number;
  blocks: number;
  blocksFree: number;
  files: number;
  filesFree: number;
  nameMax: number;
}

/**
 * A request's answer when it is an errno (ENOENT, EEXIST...), thrown by handlers. Not an
 * Error: an answer needs no stack, and making an Error costs V8 about 6 us, which every
 * create paid for the lookup of its missing name.
 */
export class FuseError {
  readonly name = "FuseError";
  constructor(readonly errno: number, readonly message: string = `errno ${errno}`) {}
}

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EACCES: 13,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ERANGE: 34,
  ENOSPC: 28,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EILSEQ: 84,
  ENOTSUP: 95,
} as const;

export interface FuseHandler {
  /** Maps an error a method threw (other than FuseError) to an errno; default EIO. */
  errnoOf?(e: unknown): number | undefined;
  lookup(parent: number, name: string): Maybe<EntryOut>;
  forget(ino: number, nlookup: number): void;
  getattr(ino: number): Maybe<{ attr: Attr; timeout: number }>;
  setattr(ino: number, set: SetAttrIn, fh: number | undefined): Maybe<{ attr: Attr; timeout: number }>;
  readlink(ino: number): Maybe<string>;
  mknod(parent: number, name: string, mode: number, rdev: number, caller: Caller): Maybe<EntryOut>;
  mkdir(parent: number, name: string, mode: number, caller: Caller): Maybe<EntryOut>;
  unlink(parent: number, name: string): Maybe<void>;
  rmdir(parent: number, name: string): Maybe<void>;
  symlink(target: string, parent: number, name: string, caller: Caller): Maybe<EntryOut>;
  rename(parent: number, name: string, newParent: number, newName: string, flags: number): Maybe<void>;
  /** A hard link: `newName` in `newParent` becomes one more name of `ino`. */
  link(ino: number, newParent: number, newName: string): Maybe<EntryOut>;
  open(ino: number, flags: number): Maybe<OpenOut>;
  create(parent: number, name: string, mode: number, flags: number, caller: Caller): Maybe<[EntryOut, OpenOut]>;
  /** The bytes read, as views in order (a reply gathers them without copying). */
  read(ino: number, size: number, offset: number, fh: number): Maybe<Uint8Array[]>;
  /** A read's views have been sent to the kernel: nothing reads them any more. */
  readSent?(views: Uint8Array[]): void;
  /**
   * `data` views the request's buffer and is valid only until this returns: a handler
   * that keeps it, or answers later, must copy it first.
   */
  write(ino: number, data: Uint8Array, offset: number, fh: number): Maybe<number>;
  release(ino: number, fh: number): Maybe<void>;
  fsync(ino: number, datasync: boolean, fh: number): Maybe<void>;
  /**
   * The listing after `offset` (0: from the start). No directory is opened (the kernel
   * sends no OPENDIR, fs/fuse/op_table.ts), so the offset is all a reader has.
   */
  readdir(ino: number, offset: number): Maybe<ListingPart>;
  /**
   * readdirplus: an entry of `dir`'s listing the kernel takes with its attributes,
   * counted as a lookup; undefined to hand it over without (the kernel looks it up).
   */
  listedEntry(dir: number, e: DirEntryOut): EntryOut | undefined;
  /** Makes the directory's entries durable (a create or rename before it). */
  fsyncdir(ino: number, datasync: boolean): Maybe<void>;
  statfs(ino: number): Maybe<StatfsOut>;
  /** `value` is the handler's own copy; `flags`: XATTR_CREATE (1), XATTR_REPLACE (2). */
  setxattr(ino: number, name: string, value: Uint8Array, flags: number): Maybe<void>;
  /** The value; ENODATA when there is none. The binding answers size queries and ERANGE. */
  getxattr(ino: number, name: string): Maybe<Uint8Array>;
  listxattr(ino: number): Maybe<string[]>;
  removexattr(ino: number, name: string): Maybe<void>;
  /** fallocate(2): mode 0 (grow), KEEP_SIZE, or PUNCH_HOLE|KEEP_SIZE. */
  fallocate(ino: number, mode: number, offset: number, length: number): Maybe<void>;
  /** lseek(2) with SEEK_DATA (3) or SEEK_HOLE (4): the offset found. */
  lseek(ino: number, offset: number, whence: number): Maybe<number>;
  /** copy_file_range(2): bytes copied. */
  copyFileRange(
    inoIn: number,
    offIn: number,
    inoOut: number,
    offOut: number,
    len: number,
    flags: number,
  ): Maybe<number>;
}
