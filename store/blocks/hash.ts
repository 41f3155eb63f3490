/**
 * Content hashing. SHA-256 through node:crypto runs at ~2 GB/s on one core here
 * (SHA-NI); see docs/BENCHMARKS.md "Choosing the hash" for the measurement against BLAKE3 and
 * WebCrypto.
 */
import { createHash } from "node:crypto";

export { bytesEqual, HASH_BYTES, hashKey, shortHex, toHex } from "./hash_keys.ts";

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest().buffer);
}

/** Length of `data` without its trailing zero bytes. */
export function trimmedLength(data: Uint8Array): number {
  // Runs on every block written; a small file's block is mostly zeros, so skip them a
  // 32-bit word at a time (a byte loop cost ~70 us per 64 KiB block).
  let n = data.length;
  while (n > 0 && (data.byteOffset + n) % 4 !== 0) {
    if (data[n - 1] !== 0) return n;
    n--;
  }
  const firstWord = (4 - (data.byteOffset % 4)) % 4;
  if (n > firstWord) {
    const words = new Uint32Array(data.buffer, data.byteOffset + firstWord, (n - firstWord) / 4);
    let w = words.length;
    while (w > 0 && words[w - 1] === 0) w--;
    n = firstWord + w * 4;
  }
  while (n > 0 && data[n - 1] === 0) n--;
  return n;
}
