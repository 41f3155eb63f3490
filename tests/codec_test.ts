/** The record primitives (store/codec.ts): 8-byte keys sort as their numbers and read back exactly. */
import assert from "node:assert/strict";
import { readU64, u64Key, u64KeyPair } from "../store/codec.ts";
import { Rng } from "./helpers.ts";

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

Deno.test("codec: u64 keys are big-endian, read back exactly, and sort as numbers", () => {
  const rng = new Rng(64);
  const edges = [0, 1, 0xff, 0x100, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 48 + 7, Number.MAX_SAFE_INTEGER];
  const numbers = [...edges, ...Array.from({ length: 500 }, () => Math.floor(rng.next() * 2 ** (1 + rng.int(53))))];
  for (const n of numbers) {
    const k = u64Key(n, new Uint8Array([9]));
    const want = new DataView(new ArrayBuffer(8));
    want.setBigUint64(0, BigInt(n));
    assert.deepEqual([...k.subarray(0, 8)], [...new Uint8Array(want.buffer)], `key of ${n}`);
    assert.equal(k[8], 9, "suffix follows");
    assert.equal(readU64(k), n);
    const pair = u64KeyPair(n, 3);
    assert.equal(readU64(pair, 0), n);
    assert.equal(readU64(pair, 8), 3);
  }
  const sorted = [...numbers].sort((a, b) => a - b).map((n) => u64Key(n));
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(compareBytes(sorted[i - 1], sorted[i]) <= 0, "byte order is number order");
  }
  assert.throws(() => readU64(new Uint8Array(7)), RangeError);
});
