/**
 * The libc calls Deno does not offer, through FFI, for the whole project: flock(2) for
 * the store's writer lock, lseek(2) with SEEK_DATA / SEEK_HOLE for sparse files,
 * statvfs(3) for the mount's statfs, poll(2), sched_yield(2) and fcntl(2) for the FUSE
 * request loop, syncfs(2) for a client flushing a mount, mknod(2), statx(2),
 * utimensat(2) and the l*xattr(2) calls for export and import, malloc tuning, and
 * madvise(2) for LMDB's map. Symbols only, loaded on first use; callers give them
 * meaning.
 */
import { utf8Bytes } from "./small_bytes.ts";

export const O_RDONLY = 0, O_RDWR = 0o2, O_CREAT = 0o100, O_DIRECTORY = 0o200000, O_CLOEXEC = 0o2000000;
/** st_mode's file type bits. */
export const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000, S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFSOCK = 0o140000;

/** Each kind of node's type bits in st_mode (and in mknod's mode), by the store's names for them. */
export const TYPE_BITS = {
  file: S_IFREG,
  dir: S_IFDIR,
  symlink: S_IFLNK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
  chardev: S_IFCHR,
  blockdev: S_IFBLK,
} as const;
export type NodeKind = keyof typeof TYPE_BITS;

/** The kind of node st_mode's type bits say; undefined for bits no node has. */
export function typeOfMode(mode: number): NodeKind | undefined {
  const bits = mode & S_IFMT;
  return (Object.keys(TYPE_BITS) as NodeKind[]).find((t) => TYPE_BITS[t] === bits);
}

const symbols = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** poll() on a thread of Deno's pool: the JS thread awaits it without blocking. */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  /** poll() on the calling thread: a short wait that wakes this thread directly. */
  poll_here: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** Lets anything else runnable on this CPU go first (a busy wait's turn). */
  sched_yield: { parameters: [], result: "i32" },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  syncfs: { parameters: ["i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
  malloc_trim: { parameters: ["u64"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
} as const;

export type Libc = Deno.DynamicLibrary<typeof symbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

export function libc(): Libc {
  lib ??= Deno.dlopen("libc.so.6", symbols);
  return lib.symbols;
}

/**
 * The calls of a client flushing a mount, in a library of their own: opening the
 * whole set above costs about 5 ms, a sixth of a `revfs snapshot` run; these three 0.8.
 */
const syncSymbols = {
  open: symbols.open,
  close: symbols.close,
  syncfs: symbols.syncfs,
} as const;

let syncLib: Deno.DynamicLibrary<typeof syncSymbols> | undefined;

/** syncfs(2) of the filesystem holding directory `path`; false when it cannot be opened or synced. */
export function syncFilesystemOf(path: string): boolean {
  syncLib ??= Deno.dlopen("libc.so.6", syncSymbols);
  const c = syncLib.symbols;
  const fd = c.open(cPath(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  const rc = c.syncfs(fd);
  c.close(fd);
  return rc === 0;
}

/**
 * Bytes free to an unprivileged user on the filesystem holding `path` (statvfs(3):
 * f_bavail blocks of f_frsize bytes, at offsets 32 and 8 of glibc's struct statvfs on
 * 64-bit Linux); undefined when it cannot be read.
 */
export function availableBytes(path: string): number | undefined {
  const buf = new BigUint64Array(14);
  if (libc().statvfs(cPath(path), buf) !== 0) return undefined;
  return Number(buf[4]) * Number(buf[1]);
}

/** lchown(2): a symlink's own owner; throws with the errno when it fails. */
export function lchown(path: string, uid: number, gid: number): void {
  if (libc().lchown(cPath(path), uid, gid) !== 0) throw new Error(`lchown ${path}: errno ${errno()}`);
}

/** errno of the last failed call on this thread (FFI calls run on the caller's thread). */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** A NUL-terminated path for libc. */
export function cPath(path: string): Uint8Array {
  return utf8Bytes(path + "\0");
}
