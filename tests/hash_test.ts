import assert from "node:assert/strict";
import { trimmedLength } from "../store/blocks/hash.ts";
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
