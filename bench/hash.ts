/**
 * Which hash for content addressing: every candidate hashes the same 64 KiB blocks
 * in one run on one core, and the two SHA-256 builds revfs can use also a small
 * input (a name, a small file), where the cost of a call shows. Run: deno task bench-hash
 */
import { createHash } from "node:crypto";
import { createBLAKE3, createXXHash128 } from "hash-wasm";
import { loadNodeSha256, sha256, sha256Implementation } from "../store/blocks/hash.ts";

const block = crypto.getRandomValues(new Uint8Array(64 * 1024));
const small = block.subarray(0, 200);
const N = 8192; // 512 MiB per candidate

function median(runs: number[]): number {
  return runs.sort((a, b) => a - b)[1];
}

function gbps(fn: () => void): number {
  fn();
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) fn();
    runs.push((N * block.length) / ((performance.now() - t) / 1000) / 1e9);
  }
  return median(runs);
}

/** Microseconds per call on a 200-byte input. */
function usPerSmall(fn: (d: Uint8Array) => unknown): number {
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < 50_000; i++) fn(small);
    runs.push((performance.now() - t) * 1000 / 50_000);
  }
  return median(runs);
}

const blake3 = await createBLAKE3();
const xxh = await createXXHash128();
const rows: [string, string, number][] = [
  ["SHA-256 (node:crypto, native)", "256-bit, cryptographic", gbps(() => createHash("sha256").update(block).digest())],
  [
    "BLAKE3 (hash-wasm)",
    "256-bit, cryptographic",
    gbps(() => {
      blake3.init();
      blake3.update(block);
      blake3.digest("binary");
    }),
  ],
  [
    "XXH3-128 (hash-wasm)",
    "128-bit, not collision-resistant",
    gbps(() => {
      xxh.init();
      xxh.update(block);
      xxh.digest("binary");
    }),
  ],
];
{
  const t = performance.now();
  for (let i = 0; i < 2048; i++) await crypto.subtle.digest("SHA-256", block);
  rows.push([
    "SHA-256 (WebCrypto, async)",
    "256-bit, cryptographic",
    (2048 * block.length) / ((performance.now() - t) / 1000) / 1e9,
  ]);
}
console.log("| hash | kind | GB/s, 64 KiB blocks, one core |\n|---|---|---|");
for (const [name, kind, v] of rows) console.log(`| ${name} | ${kind} | ${v.toFixed(2)} |`);

if (sha256Implementation !== "libcrypto") console.log("\n(no libcrypto.so.3: its rows are node:crypto again)");
console.log("\n| SHA-256 as revfs calls it | GB/s, 64 KiB blocks | us per 200-byte input |\n|---|---|---|");
const nodeSha256 = await loadNodeSha256();
for (const [name, fn] of [["libcrypto (FFI)", sha256], ["node:crypto", nodeSha256]] as const) {
  console.log(`| ${name} | ${gbps(() => fn(block)).toFixed(2)} | ${usPerSmall(fn).toFixed(2)} |`);
}
