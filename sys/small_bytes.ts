/**
 * Small byte arrays carved out of shared slabs. In this Deno every new ArrayBuffer,
 * however small, gets its own backing store from the allocator: `new Uint8Array(20)`
 * costs 1-1.5 us where a view of an existing buffer costs ~55 ns. Record keys and small
 * values are made by the thousand in a walk, a listing or an import, so they come from
 * here. Such an array shares its `.buffer` with others: view it through its byteOffset
 * and never transfer its buffer. A slab lives while any array cut from it does, so this
 * is for many small arrays, not for a few kept for long among much garbage.
 */

/** Arrays up to this many bytes come from a slab; larger ones get their own buffer. */
export const SMALL_BYTES = 512;
const SLAB_BYTES = 64 * 1024;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/** A zeroed array of `n` bytes, 8-byte aligned (a 64-bit view of it may be made). */
export function smallBytes(n: number): Uint8Array {
  if (n > SMALL_BYTES) return new Uint8Array(n);
  if (used + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const out = new Uint8Array(slab, used, n);
  used += (n + 7) & ~7;
  return out;
}

/** A copy of `bytes[start, end)` that shares nothing with the source. */
export function copyBytes(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  const n = end - start;
  if (n > SMALL_BYTES) return new Uint8Array(bytes.subarray(start, end));
  const out = smallBytes(n);
  // A key or a dirent is a few bytes: a loop is quicker than a subarray and `set`.
  if (n <= 64) { for (let i = 0; i < n; i++) out[i] = bytes[start + i]; }
  else out.set(bytes.subarray(start, end));
  return out;
}

/** `s` as UTF-8; ASCII (names, paths) written here into a small array, not by a TextEncoder call. */
export function utf8Bytes(s: string): Uint8Array {
  if (s.length > SMALL_BYTES) return utf8.encode(s);
  const out = smallBytes(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return utf8.encode(s);
    out[i] = c;
  }
  return out;
}

const utf8 = new TextEncoder();
