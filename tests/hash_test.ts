import assert from "node:assert/strict";
import { loadNodeSha256, sha256, sha256Implementation, trimmedLength } from "../store/blocks/hash.ts";

const nodeSha256 = await loadNodeSha256();
import { Rng } from "./helpers.ts";

function naiveTrimmed(data: Uint8Array): number {
  let n = data.length;
  while (n > 0 && data[n - 1] === 0) n--;
  return n;
}

Deno.test("trimmedLength agrees with a byte-by-byte scan at every alignment", () => {
  const rng = new Rng(37);
  const backing = new Uint8Array(70_000);
  for (let i = 0; i < 5000; i++) {
    backing.fill(0);
    const offset = rng.int(16);
    const length = rng.chance(0.1) ? 65536 : rng.int(300);
    const view = backing.subarray(offset, offset + length);
    // Some content, then a run of zeros of any length (sometimes none, sometimes all).
    const content = rng.int(length + 1);
    for (let k = 0; k < content; k++) view[k] = rng.chance(0.7) ? 1 + rng.int(255) : 0;
    // Non-zero bytes beyond the view must not count.
    backing[offset + length] = 9;
    assert.equal(trimmedLength(view), naiveTrimmed(view), `offset ${offset} length ${length} content ${content}`);
  }
});

Deno.test("sha256: libcrypto and node:crypto give the published values and agree on any input", () => {
  // Debian's libssl3 is on every machine this runs on (.ci/setup): the native path is the one used.
  assert.equal(sha256Implementation, "libcrypto");
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  const text = (s: string) => new TextEncoder().encode(s);
  const published: [Uint8Array, string][] = [
    [text(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    [text("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    [
      text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ],
  ];
  for (const [data, want] of published) {
    assert.equal(hex(sha256(data)), want);
    assert.equal(hex(nodeSha256(data)), want);
  }
  const rng = new Rng(41);
  const backing = rng.bytes(200_000);
  const kept: [Uint8Array, string][] = [];
  for (let i = 0; i < 4000; i++) {
    const at = rng.int(64);
    const n = rng.chance(0.1) ? rng.int(199_000) : rng.int(600);
    const view = backing.subarray(at, at + n);
    const got = sha256(view);
    assert.equal(got.length, 32);
    assert.equal(hex(got), hex(nodeSha256(view)), `${n} bytes at ${at}`);
    kept.push([got, hex(got)]);
  }
  // Each result is its own (they share slabs): one hashed later changes none kept.
  for (const [got, was] of kept) assert.equal(hex(got), was);
});
