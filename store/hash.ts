/**
 * Content hashing. SHA-256 through node:crypto runs at ~2 GB/s on one core here
 * (SHA-NI); see README "Choosing the hash" for the measurement against BLAKE3 and
 * WebCrypto.
 */
import { createHash } from "node:crypto";

export const HASH_BYTES = 32;

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest().buffer);
}

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

/** Length of `data` without its trailing zero bytes. */
export function trimmedLength(data: Uint8Array): number {
  let n = data.length;
  while (n > 0 && data[n - 1] === 0) n--;
  return n;
}
