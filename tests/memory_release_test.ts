/**
 * Memory the cache lets go of goes back: dropped buffers are reported, a collection
 * really frees them, and writeouts lead to a trim.
 */
import assert from "node:assert/strict";
import { ROOT_INO } from "../mod.ts";
import { BufferPool } from "../fs/buffer_pool.ts";
import { MemoryRelease } from "../fs/memory_release.ts";
import { PageCache } from "../fs/page_cache.ts";
import { Rng, storeTest } from "./helpers.ts";

const tick = () => new Promise((r) => setTimeout(r, 10));

Deno.test("memory release: a collection, once what was dropped passes the threshold and the budget's room, frees it", async () => {
  const release = new MemoryRelease(undefined, undefined, 32 << 20);
  let buffers: Uint8Array[] = [];
  for (let i = 0; i < 768; i++) buffers.push(new Uint8Array(65536).fill(1)); // 48 MiB
  const held = Deno.memoryUsage().external;
  release.dropped(16 << 20, 0);
  await tick();
  assert.equal(release.stats.collections, 0, "16 MiB is under the threshold");
  buffers = [];
  release.dropped(32 << 20, 256 << 20);
  await tick();
  assert.equal(release.stats.collections, 0, "the budget has room for what was dropped");
  release.dropped(1, 32 << 20);
  await tick();
  assert.equal(release.stats.collections, 1);
  const after = Deno.memoryUsage().external;
  assert.ok(held - after >= 40 << 20, `external memory ${held >> 20} -> ${after >> 20} MiB`);
  release.close();
});

Deno.test("memory release: writeouts lead to a trim, and nothing runs after close", async () => {
  let collections = 0, trims = 0;
  const release = new MemoryRelease(() => collections++, () => trims++, 1 << 20, 1 << 20);
  release.wroteOut(512 << 10);
  await tick();
  assert.equal(trims, 0);
  release.wroteOut(512 << 10);
  await tick();
  assert.deepEqual([collections, trims], [0, 1], "a trim, no collection");
  release.dropped(1 << 20, 0);
  release.close();
  await tick();
  assert.deepEqual([collections, trims], [0, 1], "closed");
});

Deno.test("buffer pool: every buffer it does not keep is reported dropped", () => {
  const BS = 65536;
  let room = 2 * BS, dropped = 0;
  const pool = new BufferPool(BS, 4, () => room, (n) => dropped += n);
  const a = pool.take(), b = pool.take(), c = pool.take();
  pool.retire(a);
  pool.retire(b);
  pool.retire(c); // no room for a third
  assert.equal(dropped, BS);
  pool.retire(new Uint8Array(1000)); // not a block buffer
  assert.equal(dropped, BS + 1000);
  pool.nextCall();
  room = BS;
  pool.trimTo(BS);
  assert.equal(dropped, 2 * BS + 1000);
  assert.equal(pool.heldBytes, BS);
});

// With a full cache what small files displace is dropped; with room in the budget it is reused or left to V8.
for (const budgetBlocks of [32, 1024]) {
  storeTest(
    `page cache: small files displacing cached blocks get a collection only when the budget is full (${budgetBlocks} blocks)`,
    async (ts) => {
      const { store } = ts;
      const bs = store.blockSize;
      let collections = 0;
      const release = new MemoryRelease(() => collections++, () => {}, 16 * bs);
      const cache = new PageCache(store, budgetBlocks * bs, undefined, release);
      const mk = (name: string) =>
        store.head.create(ROOT_INO, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
      const rng = new Rng(5);
      const big = mk("big");
      cache.write(big, 0, rng.bytes(64 * bs));
      cache.writeOutAll();
      cache.readHead(big, 32 * bs, 32 * bs);
      for (let i = 0; i < 400; i++) cache.write(mk(`small${i}`), 0, rng.bytes(2000));
      cache.writeOutAll();
      await tick();
      if (budgetBlocks === 32) assert.ok(collections >= 1, `${collections} collections`);
      else assert.equal(collections, 0);
      assert.ok(cache.stats().cachedBytes <= budgetBlocks * bs);
      release.close();
    },
    { blockSize: 65536 },
  );
}
