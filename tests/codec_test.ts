/** The record primitives (store/codec.ts): 8-byte keys sort as their numbers and read back exactly. */
import assert from "node:assert/strict";
import { Reader, readU64, u64Key, u64KeyPair, Writer } from "../store/codec.ts";
import { direntKey } from "../store/head/inodes.ts";
import type { Ino } from "../store/types.ts";
import { copyBytes } from "../sys/small_bytes.ts";
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

/** The zigzag LEB128 of FORMAT.md, bit by bit: what `Writer.bigint` must write. */
function referenceZigzag(v: bigint): number[] {
  let z = v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

Deno.test("codec: signed varints (times in ns) are zigzag LEB128 and read back exactly", () => {
  const rng = new Rng(65);
  const values = [
    0n,
    1n,
    -1n,
    63n,
    -64n,
    64n,
    2n ** 52n,
    -(2n ** 52n),
    2n ** 53n,
    2n ** 62n,
    -(2n ** 63n),
    2n ** 63n - 1n,
    // Past 64 bits (read through BigInt arithmetic, not the two halves).
    2n ** 63n,
    -(2n ** 63n) - 1n,
    2n ** 69n + 12345n,
  ];
  for (let i = 0; i < 2000; i++) {
    const bits = BigInt(1 + rng.int(63));
    const v = BigInt(Math.floor(rng.next() * 2 ** 31)) * BigInt(Math.floor(rng.next() * 2 ** 31)) % (1n << bits);
    values.push(rng.chance(0.5) ? v : -v);
  }
  values.push(1_764_700_000_123_456_789n); // a time in ns
  for (const v of values) {
    const bytes = new Writer().bigint(v).uint(5).finish();
    assert.deepEqual([...bytes.subarray(0, bytes.length - 1)], referenceZigzag(v), `encoding of ${v}`);
    const r = new Reader(bytes, "test");
    assert.equal(r.bigint(), v);
    assert.equal(r.uint(), 5, "the next value starts where it ended");
  }
});

Deno.test("codec: names and strings encode as UTF-8 whether ASCII or not, and small arrays never overlap", () => {
  const rng = new Rng(65);
  const utf8 = new TextEncoder();
  const names = [
    "",
    "a",
    "README.md",
    "ä",
    "日本語.txt",
    "x".repeat(127),
    "x".repeat(128),
    "é".repeat(200),
    "a\u0000b",
  ];
  for (let i = 0; i < 300; i++) {
    const len = rng.int(300);
    names.push(
      Array.from({ length: len }, () => String.fromCharCode(rng.chance(0.9) ? 32 + rng.int(95) : 0xa0 + rng.int(3000)))
        .join(""),
    );
  }
  const kept: [Uint8Array, number[]][] = [];
  for (const name of names) {
    const bytes = utf8.encode(name);
    const key = direntKey(7 as Ino, name);
    assert.deepEqual([...key], [...u64Key(7, bytes)], JSON.stringify(name));
    const w = new Writer().uint(3).str(name).u8(9).finish();
    const r = new Reader(w, "test");
    assert.equal(r.uint(), 3);
    assert.equal(r.str(), name);
    assert.equal(r.u8(), 9);
    r.end();
    const plain = new Writer().uint(3).bytes(bytes).u8(9).finish();
    assert.deepEqual([...w], [...plain], "the same bytes as the general path");
    kept.push([key, [...key]], [w, [...w]]);
  }
  for (let n = 0; n < 600; n += 1 + rng.int(40)) {
    const src = rng.bytes(n + 10);
    const c = copyBytes(src, 5, 5 + n);
    assert.deepEqual([...c], [...src.subarray(5, 5 + n)]);
    assert.equal(c.byteOffset % 8, 0, "8-byte aligned");
    kept.push([c, [...c]]);
  }
  for (const [a, was] of kept) assert.deepEqual([...a], was, "a later array wrote over an earlier one");
});
