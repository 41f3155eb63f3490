/** The tests' random source must stay random however much it gives: every test's data comes from it. */
import assert from "node:assert/strict";
import { Rng, sha256Hex } from "./helpers.ts";

Deno.test("Rng: no 64 KiB block repeats within 448 MiB of bytes (the state stays a 32-bit counter)", () => {
  const rng = new Rng(61);
  const seen = new Set<string>();
  let blocks = 0;
  for (let round = 0; round < 7; round++) {
    const v = rng.bytes(64 << 20);
    // Only the start of each 64 KiB block is hashed: a repeated block repeats its start.
    for (let i = 0; i < v.length; i += 65536, blocks++) seen.add(sha256Hex(v.subarray(i, i + 64)));
  }
  assert.equal(seen.size, blocks);
});
