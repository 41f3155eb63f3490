/**
 * System libzstd (FFI) against @bokuweb/zstd-wasm on 64 KiB blocks, one core, in one
 * run: compress and decompress MB/s of uncompressed bytes, and what a 4 KiB rewrite
 * of a random block costs as a delta on its previous version.
 * Run: deno task bench-zstd
 */
import { bothZstd, type Zstd } from "../store/blocks/zstd.ts";
import { Rng } from "../tests/helpers.ts";

const BLOCK = 64 * 1024;
const ROUNDS = 1500;
const { native, wasm } = await bothZstd();
if (!native) {
  console.error("bench-zstd: libzstd.so.1 is not available here; nothing to compare");
  Deno.exit(1);
}
const rng = new Rng(1);
const blocks = { "text-like": rng.bytes(BLOCK, "text"), random: rng.bytes(BLOCK) };

function speed(z: Zstd, data: Uint8Array, level: number): { c: number; d: number } {
  let t = performance.now();
  let frame: Uint8Array = new Uint8Array();
  for (let i = 0; i < ROUNDS; i++) frame = z.compress(data, level);
  const c = ROUNDS * BLOCK / ((performance.now() - t) / 1000) / 1e6;
  t = performance.now();
  for (let i = 0; i < ROUNDS; i++) z.decompress(frame);
  const d = ROUNDS * BLOCK / ((performance.now() - t) / 1000) / 1e6;
  return { c, d };
}

console.log("| block | level | libzstd compress | zstd-wasm compress | libzstd decompress | zstd-wasm decompress |");
console.log("|---|---|---|---|---|---|");
for (const [name, data] of Object.entries(blocks)) {
  for (const level of [3, 1]) {
    const n = speed(native, data, level);
    const w = speed(wasm, data, level);
    console.log(
      `| ${name} | ${level} | ${n.c.toFixed(0)} | ${w.c.toFixed(0)} | ${n.d.toFixed(0)} | ${w.d.toFixed(0)} |`,
    );
  }
}
const edited = blocks.random.slice();
edited.set(rng.bytes(4096), 30_000);
const delta = native.compressWithDict(edited, blocks.random);
console.log(
  `\n64 KiB random block, 4 KiB rewritten, as a delta on the previous version: ${delta.length} bytes ` +
    `(zstd-wasm: ${wasm.compressWithDict(edited, blocks.random).length})`,
);
