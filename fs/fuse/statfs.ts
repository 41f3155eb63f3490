/** statfs for a FUSE filesystem: the space of the local filesystem that holds a path. */
import { cPath, libc } from "../../sys/libc.ts";
import { LAYOUT } from "./layout.ts";
import { Errno, FuseError, type StatfsOut } from "./ops.ts";

/** statvfs(3) of `path`, in units of `blockSize`. */
export function statfsOf(path: string, blockSize: number, nameMax: number): StatfsOut {
  const buf = new Uint8Array(LAYOUT.statvfs);
  if (libc().statvfs(cPath(path), buf) !== 0) throw new FuseError(Errno.EIO);
  const v = new DataView(buf.buffer);
  const get = (k: keyof typeof LAYOUT) => Number(v.getBigUint64(LAYOUT[k], true));
  const frsize = get("statvfs.f_frsize");
  return {
    blockSize,
    blocks: get("statvfs.f_blocks") * frsize / blockSize,
    blocksFree: get("statvfs.f_bavail") * frsize / blockSize,
    files: get("statvfs.f_files"),
    filesFree: get("statvfs.f_favail"),
    nameMax,
  };
}
