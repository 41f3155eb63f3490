/**
 * Extended attributes of local files, for `import` and `export`: Deno has no xattr
 * API, so through libc's l*xattr(2) (the link itself, never what a symlink points to).
 */
import { cPath, errno, libc } from "../../sys/libc.ts";
import { RevfsError, type Xattrs } from "../types.ts";

const ENODATA = 61, ERANGE = 34, ENOTSUP = 95;
const utf8d = new TextDecoder();

/** `path`'s attributes, sorted by name; none where the filesystem has no xattrs. */
export function readLocalXattrs(path: string): Xattrs {
  const p = cPath(path);
  const names = sized((buf) => libc().llistxattr(p, buf, BigInt(buf?.length ?? 0)), path);
  if (names === undefined) return [];
  const out: Xattrs = [];
  for (const name of utf8d.decode(names).split("\0").filter((n) => n !== "")) {
    const n = cPath(name);
    const value = sized((buf) => libc().lgetxattr(p, n, buf, BigInt(buf?.length ?? 0)), path);
    if (value !== undefined) out.push([name, value]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Sets each attribute on `path`; one failure fails the whole (export removes what it wrote). */
export function writeLocalXattrs(path: string, xattrs: Xattrs): void {
  const p = cPath(path);
  for (const [name, value] of xattrs) {
    if (libc().lsetxattr(p, cPath(name), value, BigInt(value.length), 0) !== 0) {
      throw new RevfsError("INVALID", `cannot set attribute ${name} on ${path} (errno ${errno()})`);
    }
  }
}

/**
 * Calls a size-then-fill xattr function: first for the size, then into a buffer of
 * that size, again if it grew meanwhile. Undefined when there is nothing (ENODATA,
 * ENOTSUP: a value removed meanwhile, a filesystem without xattrs).
 */
function sized(call: (buf: Uint8Array | null) => number | bigint, path: string): Uint8Array | undefined {
  for (let tries = 0; tries < 4; tries++) {
    const size = Number(call(null));
    if (size < 0) return absent(errno(), path);
    // Most files have no attributes at all: one call, not two.
    if (size === 0) return new Uint8Array(0);
    const buf = new Uint8Array(size);
    const got = Number(call(buf));
    if (got >= 0) return buf.subarray(0, got);
    const e = errno();
    if (e !== ERANGE) return absent(e, path);
  }
  throw new RevfsError("INVALID", `the extended attributes of ${path} keep changing`);
}

function absent(e: number, path: string): undefined {
  if (e === ENODATA || e === ENOTSUP) return undefined;
  throw new RevfsError("INVALID", `cannot read the extended attributes of ${path} (errno ${e})`);
}
