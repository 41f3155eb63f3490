/**
 * The page cache's clean blocks (fs/clean_blocks.ts): blocks used once wait on probation
 * and go first, so they neither fill the budget nor push out blocks asked for again.
 */
import assert from "node:assert/strict";
import { BufferPool } from "../fs/buffer_pool.ts";
import { CleanBlocks } from "../fs/clean_blocks.ts";
import { Rng } from "./helpers.ts";

const BS = 4096;

function cache(probationBlocks: number): { clean: CleanBlocks; pool: BufferPool } {
  const pool = new BufferPool(BS, 4);
  return { clean: new CleanBlocks(pool, probationBlocks * BS), pool };
}

function block(pool: BufferPool, fill: number): Uint8Array {
  return pool.take().fill(fill);
}

Deno.test("clean blocks: blocks read once stay within probation; one asked for again outlives them", () => {
  const { clean, pool } = cache(2);
  const limit = 10 * BS;
  clean.add("hot", block(pool, 1), true);
  clean.evictTo(limit);
  assert.equal(clean.get("hot")?.[0], 1, "a second use protects it");
  for (let i = 0; i < 50; i++) {
    clean.add(`once-${i}`, block(pool, 2), true);
    clean.evictTo(limit);
    assert.ok(clean.count <= 3, `${clean.count} blocks held after ${i + 1} read once`);
  }
  assert.ok(clean.has("hot"));
  assert.deepEqual([47, 48, 49].map((i) => clean.has(`once-${i}`)), [false, true, true], "the last two, on probation");
  assert.equal(clean.bytes, 3 * BS);
});

Deno.test("clean blocks: a block loaded or written out ahead of its first read is protected at its second", () => {
  const { clean, pool } = cache(1);
  const limit = 10 * BS;
  clean.add("ahead", block(pool, 1), false);
  assert.equal(clean.get("ahead")?.[0], 1, "its first use");
  clean.add("x", block(pool, 2), true);
  clean.evictTo(limit);
  assert.ok(!clean.has("ahead"), "used once: still on probation, and the least recently used there");
  clean.add("again", block(pool, 3), false);
  clean.get("again");
  clean.get("again");
  clean.add("y", block(pool, 4), true);
  clean.evictTo(limit);
  assert.ok(clean.has("again"), "used twice: protected");
});

Deno.test("clean blocks: past the limit, probation goes first, then the least recently used protected blocks", () => {
  const { clean, pool } = cache(8);
  for (const k of ["a", "b", "c", "d"]) {
    clean.add(k, block(pool, 0), true);
    clean.get(k);
  }
  clean.get("a"); // b is now the least recently used protected block
  clean.add("p1", block(pool, 0), true);
  clean.add("p2", block(pool, 0), true);
  clean.evictTo(4 * BS);
  assert.deepEqual(["a", "b", "c", "d", "p1", "p2"].map((k) => clean.has(k)), [true, true, true, true, false, false]);
  clean.evictTo(2 * BS);
  assert.deepEqual(["a", "b", "c", "d"].map((k) => clean.has(k)), [true, false, false, true]);
  clean.evictTo(0);
  assert.equal(clean.count, 0);
  assert.equal(clean.bytes, 0);
});

Deno.test("clean blocks: random adds, gets, replacements and forgets keep bytes and count true, and stay within the limit", () => {
  const rng = new Rng(3);
  const { clean, pool } = cache(5);
  const limit = 12 * BS;
  const model = new Map<string, number>();
  for (let step = 0; step < 5000; step++) {
    const key = `k${rng.int(40)}`;
    const op = rng.int(10);
    if (op < 4) {
      const fill = rng.int(256);
      // Blocks of a whole buffer or a small file's few bytes: both count what they hold.
      const data = rng.int(4) === 0 ? new Uint8Array(100 + rng.int(3000)).fill(fill) : block(pool, fill);
      clean.add(key, data, rng.int(2) === 0);
      model.set(key, fill);
    } else if (op < 8) {
      const got = clean.get(key);
      if (got) assert.equal(got[0], model.get(key), `${key} holds what was added last`);
    } else {
      clean.forget(key);
      model.delete(key);
    }
    clean.evictTo(limit);
    for (const k of [...model.keys()]) if (!clean.has(k)) model.delete(k);
    assert.equal(clean.count, model.size);
    assert.ok(clean.bytes <= limit, `${clean.bytes} bytes held`);
  }
  clean.evictTo(0);
  assert.equal(clean.bytes, 0);
});
