/**
 * Content hashing: SHA-256, a block's and a page's name. See docs/BENCHMARKS.md
 * "Choosing the hash" for the measurement against BLAKE3 and WebCrypto. The system
 * libcrypto (OpenSSL 3, Debian's libssl3) through FFI when present, else node:crypto:
 * both hash at the same speed, but node:crypto's hash object, digest Buffer and copy cost
 * ~5 us per call, more than hashing a small file takes, and a walk of a revision or an
 * import hashes once per name or file. REVFS_SHA256=node forces node:crypto (tests).
 */
import { optionalLibrary } from "../../sys/native.ts";
import { smallBytes } from "../../sys/small_bytes.ts";
import { HASH_BYTES } from "./hash_keys.ts";

export { bytesEqual, HASH_BYTES, hashKey, shortHex, toHex } from "./hash_keys.ts";

const cryptoSymbols = {
  EVP_MD_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_Digest: { parameters: ["buffer", "usize", "buffer", "pointer", "pointer", "pointer"], result: "i32" },
} as const;

type Sha256 = (data: Uint8Array) => Uint8Array;

/** node:crypto's SHA-256; node:crypto is loaded only for it (loading it cost every process ~35 ms). */
export async function loadNodeSha256(): Promise<Sha256> {
  const { createHash } = await import("node:crypto");
  return (data) => new Uint8Array(createHash("sha256").update(data).digest().buffer);
}

/** libcrypto's one-shot EVP_Digest with the digest fetched once (SHA256() fetches it per call). */
function loadNative(): Sha256 | undefined {
  const lib = optionalLibrary("libcrypto.so.3", cryptoSymbols, "REVFS_SHA256", "node");
  const md = lib?.EVP_MD_fetch(null, new TextEncoder().encode("SHA256\0"), null);
  if (!lib || !md) return undefined;
  // The size as a plain number: FFI takes one for usize, and a BigInt per call costs.
  const digest = lib.EVP_Digest as unknown as (
    data: Uint8Array,
    n: number,
    out: Uint8Array,
    outSize: null,
    type: Deno.PointerObject,
    engine: null,
  ) => number;
  return (data) => {
    const out = smallBytes(HASH_BYTES);
    if (digest(data, data.length, out, null, md, null) !== 1) {
      throw new Error("libcrypto: EVP_Digest failed");
    }
    return out;
  };
}

const native = loadNative();

/** The implementation in use. */
export const sha256Implementation = native ? "libcrypto" : "node:crypto";

export const sha256: Sha256 = native ?? await loadNodeSha256();

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
