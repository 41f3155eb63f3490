/** The one place store errors become errnos for the kernel. */
import { RevfsError } from "../mod.ts";
import { Errno, FuseError } from "./fuse/ops.ts";

const BY_CODE: Record<string, number> = {
  NO_SUCH_PATH: Errno.ENOENT,
  EXISTS: Errno.EEXIST,
  NOT_EMPTY: Errno.ENOTEMPTY,
  NOT_A_DIR: Errno.ENOTDIR,
  IS_A_DIR: Errno.EISDIR,
  INVALID: Errno.EINVAL,
  NAME_TOO_LONG: Errno.ENAMETOOLONG,
  NO_SPACE: Errno.ENOSPC,
  NO_XATTR: Errno.ENODATA,
  CORRUPT: Errno.EIO,
  UNKNOWN_REV: Errno.ENOENT,
};

/** Undefined for an error that is not ours: the session logs it and answers EIO. */
export function toErrno(e: unknown): number | undefined {
  if (e instanceof FuseError) return e.errno;
  if (e instanceof RevfsError) {
    if (e.code === "CORRUPT") console.error(`revfs: ${e.message}`);
    return BY_CODE[e.code] ?? Errno.EIO;
  }
  return undefined;
}
