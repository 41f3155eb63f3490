/**
 * Record checksums: libxxhash and the WebAssembly fallback give the published values
 * and agree with each other; every zstd frame either implementation writes carries a
 * content checksum that the other one checks.
 */
import assert from "node:assert/strict";
import { bothChecksums } from "../store/blocks/checksum.ts";
import { bothZstd, hasContentChecksum } from "../store/blocks/zstd.ts";
import { Rng } from "./helpers.ts";

const utf8 = new TextEncoder();

Deno.test("checksums: libxxhash and hash-wasm give XXH3-64 and XXH64's published values and agree on any input", async () => {
  const { native, wasm } = await bothChecksums();
  assert.ok(native, "libxxhash.so.0 is not installed (.ci/setup installs libxxhash0)");
  // From xxHash's own test vectors (seed 0).
  const published: [string, bigint, bigint][] = [
    ["", 0x2d06800538d394c2n, 0xef46db3751d8e999n],
    ["a", 0xe6c632b61e964e1fn, 0xd24ec4f1a98c6e5bn],
  ];
  for (const impl of [native, wasm]) {
    for (const [s, x3, x64] of published) {
      assert.equal(impl.xxh3(utf8.encode(s)), x3, `${impl.name} XXH3 of ${JSON.stringify(s)}`);
      assert.equal(impl.xxh64(utf8.encode(s)), x64, `${impl.name} XXH64 of ${JSON.stringify(s)}`);
    }
  }
  // Every length class XXH3 treats differently (0-16, 17-128, 129-240, longer, several stripes).
  const rng = new Rng(5);
  for (const n of [1, 3, 8, 16, 17, 100, 128, 129, 200, 240, 241, 1000, 1024, 65536, 100_001]) {
    const data = rng.bytes(n);
    assert.equal(native.xxh3(data), wasm.xxh3(data), `XXH3 of ${n} bytes`);
    assert.equal(native.xxh64(data), wasm.xxh64(data), `XXH64 of ${n} bytes`);
    // A view into a larger buffer hashes only its own bytes.
    const padded = new Uint8Array(n + 7);
    padded.set(data, 3);
    assert.equal(native.xxh3(padded.subarray(3, 3 + n)), native.xxh3(data));
    assert.equal(wasm.xxh3(padded.subarray(3, 3 + n)), native.xxh3(data));
  }
});

Deno.test("checksums: zstd frames from libzstd and zstd-wasm carry a content checksum the other one checks", async () => {
  const { native, wasm } = await bothZstd();
  assert.ok(native, "libzstd.so.1 is not installed");
  const rng = new Rng(6);
  const data = rng.bytes(60_000, "text");
  const dict = rng.bytes(20_000, "text");
  for (const [writer, reader] of [[native, wasm], [wasm, native], [native, native], [wasm, wasm]]) {
    const what = `${writer.name} -> ${reader.name}`;
    const plain = writer.compress(data);
    const withDict = writer.compressWithDict(data, dict);
    assert.ok(hasContentChecksum(plain) && hasContentChecksum(withDict), `${what}: a frame without checksum`);
    assert.deepEqual(reader.decompress(plain), data, what);
    assert.deepEqual(reader.decompressWithDict(withDict, dict), data, what);
    // A flipped bit inside the compressed blocks or in the checksum itself is refused.
    for (const at of [plain.length >> 1, plain.length - 2]) {
      const bad = plain.slice();
      bad[at] ^= 0x10;
      assert.throws(() => reader.decompress(bad), Error, `${what}: flip at ${at} not detected`);
    }
    const bad = withDict.slice();
    bad[bad.length - 1] ^= 1;
    assert.throws(() => reader.decompressWithDict(bad, dict), Error, `${what}: flipped dict frame read`);
  }
  assert.ok(!hasContentChecksum(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00])), "a frame without the flag");
  assert.ok(!hasContentChecksum(utf8.encode("not a frame")));
});

Deno.test("checksums: libzstd decodes a chain's lower step without its checksum only when asked to", async () => {
  const { native } = await bothZstd();
  assert.ok(native, "libzstd.so.1 is not installed");
  const rng = new Rng(7);
  const data = rng.bytes(60_000, "text");
  const base = rng.bytes(60_000, "text");
  for (
    const [frame, read] of [
      [native.compress(data), (f: Uint8Array, checked: boolean) => native.decompress(f, undefined, checked)],
      [
        native.compressWithDict(data, base),
        (f: Uint8Array, checked: boolean) => native.decompressWithDict(f, base, new Uint8Array(65536), checked),
      ],
    ] as const
  ) {
    const bad = frame.slice();
    bad[bad.length - 1] ^= 1;
    assert.throws(() => read(bad, true), /checksum/);
    assert.deepEqual(read(bad, false), data);
    // The checked path is still checked after an unchecked decode.
    assert.throws(() => read(bad, true), /checksum/);
  }
});

Deno.test("zstd: compressAtMost gives compress's frame when it fits the limit, and nothing when it does not", async () => {
  const { native, wasm } = await bothZstd();
  assert.ok(native, "libzstd.so.1 is not installed");
  const rng = new Rng(8);
  const dict = rng.bytes(20_000, "text");
  const cases = [rng.bytes(60_000, "text"), rng.bytes(4_000), rng.bytes(30_000, "text")];
  for (const z of [native, wasm]) {
    for (const [i, data] of cases.entries()) {
      const d: Uint8Array | undefined = i === 2 ? dict : undefined;
      const frame: Uint8Array = d ? z.compressWithDict(data, d) : z.compress(data);
      const what = `${z.name}, case ${i}`;
      assert.deepEqual(z.compressAtMost(data, frame.length, d), frame, `${what}: at its own size`);
      assert.equal(z.compressAtMost(data, frame.length - 1, d), undefined, `${what}: one byte short`);
      // compress's frames are the caller's: later calls do not change them (compressAtMost's
      // may be a view of the compressor's buffer, which its next call reuses).
      const kept: Uint8Array = d ? z.compressWithDict(data, d) : z.compress(data);
      z.compressAtMost(rng.bytes(5_000), 10_000);
      z.compress(rng.bytes(5_000));
      assert.deepEqual(kept, frame, what);
    }
  }
});

Deno.test("zstd: loading the implementations again leaves every one writing frames the other reads", async () => {
  // zstd-wasm's init() makes a new instance each time it is called, and the contexts of
  // the one before then wrote frames of zeros: the third load broke every one of them.
  const rng = new Rng(9);
  const data = rng.bytes(30_000, "text");
  const dict = rng.bytes(20_000, "text");
  const loads = [];
  for (let i = 0; i < 4; i++) loads.push(await bothZstd());
  const native = loads[0].native;
  assert.ok(native, "libzstd.so.1 is not installed");
  for (const [i, { wasm }] of loads.entries()) {
    const frame = wasm.compressWithDict(data, dict);
    assert.deepEqual(native.decompressWithDict(frame, dict), data, `zstd-wasm of load ${i}, with a dictionary`);
    assert.deepEqual(wasm.decompress(native.compress(data)), data, `zstd-wasm of load ${i}, reading libzstd`);
  }
});

Deno.test("zstd: compressAtMost keeps its dictionary loaded, and its frames stay those a fresh load gives", async () => {
  const { native, wasm } = await bothZstd();
  assert.ok(native, "libzstd.so.1 is not installed");
  const rng = new Rng(9);
  const a = rng.bytes(40_000, "text"), b = rng.bytes(30_000, "text");
  const blocks = Array.from({ length: 6 }, () => rng.bytes(8_000 + rng.int(20_000), "text"));
  // Dictionaries and levels interleaved, with other dictionaries' compressions between.
  const calls: [Uint8Array, number][] = [[a, 3], [a, 3], [b, 3], [a, 3], [a, 9], [a, 3], [b, 3], [b, 3]];
  for (const z of [native, wasm]) {
    calls.forEach(([dict, level], i) => {
      const data = blocks[i % blocks.length];
      const frame = z.compressAtMost(data, data.length, dict, level);
      assert.ok(frame, `${z.name} call ${i}: no frame`);
      const kept = frame.slice();
      const fresh = z.compressWithDict(data, dict, level);
      assert.deepEqual(kept, fresh, `${z.name} call ${i}: not the frame a fresh load gives`);
      assert.deepEqual(z.decompressWithDict(kept, dict), data, `${z.name} call ${i}`);
      z.compressWithDict(rng.bytes(3_000, "text"), rng.bytes(5_000, "text"));
    });
  }
});
