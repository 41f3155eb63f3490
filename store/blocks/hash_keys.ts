/**
 * Hashes as names: comparing them, printing them, keying maps by them. Apart from
 * store/blocks/hash.ts so that using a hash does not load node:crypto (50 ms of a
 * command's start).
 */

export const HASH_BYTES = 32;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

export function shortHex(bytes: Uint8Array): string {
  return toHex(bytes.subarray(0, 6));
}

/** A hash as a Map/Set key (one char per byte: cheaper than hex). */
export function hashKey(h: Uint8Array): string {
  return String.fromCharCode(...h);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
