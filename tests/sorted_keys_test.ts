/**
 * SortedKeys (the pending writes' order) against a plain sorted array: random adds,
 * deletes and ranges, enough keys that runs split and empty out.
 */
import assert from "node:assert/strict";
import { SortedKeys } from "../store/records/sorted_keys.ts";
import { Rng } from "./helpers.ts";

Deno.test("sorted keys: adds, deletes and ranges match a sorted array", () => {
  const rng = new Rng(20261203);
  const keys = new SortedKeys();
  const model = new Set<string>();
  // Keys over a few code units, "\0" and "\xff" included, of 1-4 units: ~1,000 distinct.
  const alphabet = ["\0", "\x01", "a", "\x7f", "\x80", "\xff"];
  const key = () => Array.from({ length: 1 + rng.int(4) }, () => rng.pick(alphabet)).join("");
  const sorted = () => [...model].sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
  for (let step = 0; step < 20_000; step++) {
    // Grow for a while, then shrink, so runs both split and empty.
    const growing = step % 8_000 < 5_000;
    const k = key();
    if (rng.chance(growing ? 0.8 : 0.2)) {
      keys.add(k);
      model.add(k);
    } else {
      keys.delete(k);
      model.delete(k);
    }
    assert.equal(keys.size, model.size, `step ${step}: size`);
    if (step % 97 === 0) {
      const want = sorted();
      assert.deepEqual([...keys.range()], want, `step ${step}: all keys`);
      const a = key(), b = key();
      assert.deepEqual([...keys.range(a)], want.filter((x) => x >= a), `step ${step}: from ${JSON.stringify(a)}`);
      assert.deepEqual(
        [...keys.range(undefined, b)],
        want.filter((x) => x < b),
        `step ${step}: to ${JSON.stringify(b)}`,
      );
      assert.deepEqual([...keys.range(a, b)], want.filter((x) => x >= a && x < b), `step ${step}: between`);
    }
  }
  // Keys added in order (the common case: appends) and in reverse.
  const inOrder = new SortedKeys(), reverse = new SortedKeys();
  const n = 3_000;
  const name = (i: number) => i.toString().padStart(5, "0");
  for (let i = 0; i < n; i++) inOrder.add(name(i));
  for (let i = n - 1; i >= 0; i--) reverse.add(name(i));
  const want = Array.from({ length: n }, (_, i) => name(i));
  assert.deepEqual([...inOrder.range()], want);
  assert.deepEqual([...reverse.range()], want);
  assert.deepEqual([...reverse.range(name(1_000), name(1_010))], want.slice(1_000, 1_010));
});
