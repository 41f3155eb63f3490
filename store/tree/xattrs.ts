/**
 * Extended attributes (format 6): a node's name/value pairs, kept in its head inode
 * record and in its directory entry, so every revision has its own. Sorted by name;
 * empty is the same as none. FORMAT.md, "Extended attributes", gives the encoding.
 */
import type { Reader, Writer } from "../codec.ts";
import { bytesEqual } from "../blocks/hash_keys.ts";
import { RevfsError, type Xattrs } from "../types.ts";
import { copyBytes } from "../../sys/small_bytes.ts";

/** Names and values of one node at most, in bytes (ext4 allows 4 KiB, one value on Linux at most 64 KiB). */
export const XATTR_MAX_BYTES = 64 << 10;

export function writeXattrs(w: Writer, x: Xattrs): void {
  w.uint(x.length);
  for (const [name, value] of x) w.str(name).bytes(value);
}

export function readXattrs(r: Reader): Xattrs {
  const out: Xattrs = [];
  for (let n = r.uint(); n > 0; n--) out.push([r.str(), copyBytes(r.bytes())]);
  return out;
}

export function xattrsEqual(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const x = a ?? [], y = b ?? [];
  return x.length === y.length && x.every(([n, v], i) => n === y[i][0] && bytesEqual(v, y[i][1]));
}

/** How `setXattr` treats an existing attribute (setxattr(2)'s flags). */
export type XattrMode = "create" | "replace" | "either";

/**
 * `x` with `name` set to `value`, or removed (`value` null). Fails as setxattr(2) and
 * removexattr(2) do: EXISTS for "create" of a present name, NO_XATTR for "replace" or
 * removal of a missing one, NO_SPACE past XATTR_MAX_BYTES.
 */
export function withXattr(x: Xattrs | undefined, name: string, value: Uint8Array | null, mode: XattrMode): Xattrs {
  const list = x ?? [];
  const at = list.findIndex(([n]) => n === name);
  if (value !== null && mode === "create" && at >= 0) throw new RevfsError("EXISTS", `attribute ${name} exists`);
  if ((value === null || mode === "replace") && at < 0) throw new RevfsError("NO_XATTR", `no attribute ${name}`);
  const out = list.filter(([n]) => n !== name);
  if (value !== null) {
    out.push([name, value.slice()]);
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  const bytes = out.reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (bytes > XATTR_MAX_BYTES) throw new RevfsError("NO_SPACE", `extended attributes over ${XATTR_MAX_BYTES} bytes`);
  return out;
}
