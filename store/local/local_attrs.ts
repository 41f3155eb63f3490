/**
 * A local file's attributes for `import` and `export`, to the nanosecond: statx(2) and
 * utimensat(2) through libc. Deno.FileInfo and Deno.utime have milliseconds only; so
 * does node:fs's bigint lstat under Deno (mtimeNs ends in six zeros), which also cost
 * 21 us a file on top of Deno's own lstat, a tenth of what importing a small file took.
 */
import { cPath, errno, libc, type NodeKind, typeOfMode } from "../../sys/libc.ts";

export interface LocalStat {
  kind: NodeKind;
  /** Permission bits and the set-id and sticky bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** The file's identity on this machine (device and inode), for finding hard links. */
  id: string;
  /** A device node's number, encoded as glibc's makedev does (what stat's st_rdev holds); 0 for others. */
  rdev: number;
  mtimeNs: bigint;
}

const AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, STATX_BASIC_STATS = 0x7ff;
const ENOENT = 2, ENOTDIR = 20, EACCES = 13;
/** struct statx (linux/stat.h): fixed at 256 bytes; the offsets of the fields read here. */
const SIZE = 256, NLINK = 16, UID = 20, GID = 24, MODE = 28, INO = 32, FILE_SIZE = 40, MTIME = 112;
const RDEV_MAJOR = 128, RDEV_MINOR = 132, DEV_MAJOR = 136, DEV_MINOR = 140;

const buf = new Uint8Array(SIZE);
const view = new DataView(buf.buffer);

/** `path`'s own attributes (a symlink's, not its target's, unless `follow`); NotFound when it is gone. */
export function localLstat(path: string, follow = false): LocalStat {
  if (libc().statx(AT_FDCWD, cPath(path), follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf) !== 0) {
    const e = errno();
    if (e === ENOENT || e === ENOTDIR) throw new Deno.errors.NotFound(`no such file: ${path}`);
    if (e === EACCES) throw new Deno.errors.PermissionDenied(`permission denied: ${path}`);
    throw new Error(`cannot stat ${path} (errno ${e})`);
  }
  const rawMode = view.getUint16(MODE, true);
  const kind = typeOfMode(rawMode);
  if (kind === undefined) throw new Error(`${path}: unknown file type ${(rawMode >> 12).toString(8)}`);
  const sec = view.getBigInt64(MTIME, true);
  const nsec = BigInt(view.getUint32(MTIME + 8, true));
  return {
    kind,
    mode: rawMode & 0o7777,
    uid: view.getUint32(UID, true),
    gid: view.getUint32(GID, true),
    size: Number(view.getBigUint64(FILE_SIZE, true)),
    nlink: view.getUint32(NLINK, true),
    id: `${view.getUint32(DEV_MAJOR, true)}:${view.getUint32(DEV_MINOR, true)}:${view.getBigUint64(INO, true)}`,
    rdev: kind === "chardev" || kind === "blockdev"
      ? makedev(view.getUint32(RDEV_MAJOR, true), view.getUint32(RDEV_MINOR, true))
      : 0,
    mtimeNs: sec * 1_000_000_000n + nsec,
  };
}

/** glibc's makedev: major and minor into one dev_t, as stat(2) gives st_rdev. */
export function makedev(major: number, minor: number): number {
  const ma = BigInt(major), mi = BigInt(minor);
  return Number(((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n));
}

/** Sets `path`'s access and modification times to `mtimeNs` (a symlink's own, not its target's). */
export function setLocalMtime(path: string, mtimeNs: bigint): void {
  const sec = mtimeNs / 1_000_000_000n, nsec = mtimeNs % 1_000_000_000n;
  const times = new BigInt64Array([sec, nsec, sec, nsec]);
  const rc = libc().utimensat(AT_FDCWD, cPath(path), new Uint8Array(times.buffer), AT_SYMLINK_NOFOLLOW);
  if (rc !== 0) throw new Error(`cannot set the times of ${path} (errno ${errno()})`);
}
