/**
 * Memory the cache lets go of goes back: dropped buffers are reported, a collection
 * (when the process's memory is over the limit) really frees them, writeouts lead to a
 * trim, and a deleted file's blocks leave the cache.
 */
import assert from "node:assert/strict";
import { ROOT_INO } from "../mod.ts";
import { BufferPool } from "../fs/buffer_pool.ts";
import { MemoryRelease } from "../fs/memory_release.ts";
import { PageCache } from "../fs/page_cache.ts";
import { residentMemory } from "../sys/resident_memory.ts";
import { Rng, storeTest } from "./helpers.ts";

const tick = () => new Promise((r) => setTimeout(r, 10));

Deno.test("memory release: past the threshold, a look at the memory, and a collection that frees what was dropped when it is over", async () => {
  let anon = 0;
  const release = new MemoryRelease(0, () => anon, undefined, undefined, 32 << 20);
  let buffers: Uint8Array[] = [];
  for (let i = 0; i < 768; i++) buffers.push(new Uint8Array(65536).fill(1)); // 48 MiB
  const held = Deno.memoryUsage().external;
  release.dropped(16 << 20);
  await tick();
  assert.equal(release.stats.looks, 0, "16 MiB is under the threshold");
  release.dropped(16 << 20);
  await tick();
  assert.deepEqual([release.stats.looks, release.stats.collections], [1, 0], "the memory is under the limit");
  buffers = [];
  anon = 2 ** 40;
  release.dropped(31 << 20);
  await tick();
  assert.equal(release.stats.looks, 1, "the count starts again after a look");
  release.dropped(1 << 20);
  await tick();
  assert.deepEqual([release.stats.looks, release.stats.collections], [2, 1]);
  const after = Deno.memoryUsage().external;
  assert.ok(held - after >= 40 << 20, `external memory ${held >> 20} -> ${after >> 20} MiB`);
  release.close();
});

Deno.test("memory release: much dropped since the last collection is collected under the limit too", async () => {
  let collections = 0;
  const release = new MemoryRelease(0, () => 0, () => collections++, () => {}, 16 << 20);
  for (let i = 0; i < 3; i++) release.dropped(16 << 20);
  await tick();
  assert.deepEqual([release.stats.looks, collections], [1, 0], "48 MiB under the limit");
  release.dropped(16 << 20);
  await tick();
  assert.deepEqual([release.stats.looks, collections], [2, 1], "64 MiB since the last collection");
  release.dropped(16 << 20);
  await tick();
  assert.deepEqual([release.stats.looks, collections], [3, 1], "counted again from the collection");
  release.close();
});

Deno.test("resident memory: anonymous memory counts buffers written, the mapped file apart", () => {
  // The count is the whole process's, which under `deno test --parallel` runs other test
  // files too (370 MiB anonymous before this test in one CI run, where 64 MiB written
  // raised it by only 54.7 MiB): a buffer large enough that what they free meanwhile
  // cannot hide it.
  const before = residentMemory();
  const b = new Uint8Array(256 << 20).fill(7);
  const after = residentMemory();
  assert.ok(after.rssAnonBytes - before.rssAnonBytes >= 192 << 20, `${before.rssAnonBytes} -> ${after.rssAnonBytes}`);
  assert.ok(after.rssFileBytes > 0);
  assert.equal(b[b.length - 1], 7);
});

Deno.test("memory release: writeouts lead to a trim, and nothing runs after close", async () => {
  let collections = 0, trims = 0;
  const release = new MemoryRelease(0, () => 2 ** 40, () => collections++, () => trims++, 1 << 20, 1 << 20);
  release.wroteOut(512 << 10);
  await tick();
  assert.equal(trims, 0);
  release.wroteOut(512 << 10);
  await tick();
  assert.deepEqual([collections, trims], [0, 1], "a trim, no collection");
  release.dropped(1 << 20);
  release.close();
  await tick();
  assert.deepEqual([collections, trims], [0, 1], "closed");
});

Deno.test("buffer pool: it keeps at most its spare count and room, and reports every buffer it does not keep", () => {
  const BS = 65536;
  let room = 3 * BS, dropped = 0;
  const pool = new BufferPool(BS, 2, () => room, (n) => dropped += n);
  const a = pool.take(), b = pool.take(), c = pool.take();
  pool.retire(a);
  pool.retire(b);
  pool.retire(c); // room for a third, but two is the most it keeps
  assert.equal(dropped, BS);
  pool.retire(new Uint8Array(1000)); // not a block buffer
  assert.equal(dropped, BS + 1000);
  pool.nextCall();
  room = BS;
  pool.trimTo(BS);
  assert.equal(dropped, 2 * BS + 1000);
  assert.equal(pool.heldBytes, BS);
});

// With a full cache, what small files displace is dropped and the release looks; it collects only over the limit.
for (const over of [true, false]) {
  storeTest(
    `page cache: small files displacing cached blocks in a full cache lead to a look, and a collection when over (${over})`,
    async (ts) => {
      const { store } = ts;
      const bs = store.blockSize;
      let collections = 0;
      // About 98 blocks are dropped: past the threshold, short of the four times that collect anyway.
      const release = new MemoryRelease(0, () => over ? 2 ** 40 : 0, () => collections++, () => {}, 32 * bs);
      const cache = new PageCache(store, 32 * bs, undefined, release);
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
      assert.ok(release.stats.looks >= 1, `${release.stats.looks} looks`);
      assert.equal(collections, over ? release.stats.looks : 0, `${release.stats.looks} looks`);
      assert.ok(cache.stats().cachedBytes <= 32 * bs);
      release.close();
    },
    { blockSize: 65536 },
  );
}

storeTest(
  "page cache: a deleted file's blocks leave the cache and their buffers are collected; blocks a snapshot holds stay",
  async (ts) => {
    const { store } = ts;
    const bs = store.blockSize;
    let collections = 0;
    const release = new MemoryRelease(0, () => 2 ** 40, () => collections++, () => {}, 16 * bs);
    const cache = new PageCache(store, 128 * bs, undefined, release); // keeps up to 32 spare buffers
    const mk = (name: string) =>
      store.head.create(ROOT_INO, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    const rng = new Rng(9);
    const kept = mk("kept"), gone = mk("gone");
    cache.write(kept, 0, rng.bytes(16 * bs));
    cache.writeOutAll();
    store.snapshot();
    cache.write(gone, 0, rng.bytes(80 * bs));
    cache.writeOutAll();
    // Each piece read twice: blocks used again are kept past probation (fs/clean_blocks.ts).
    for (const [ino, blocks] of [[kept, 16], [gone, 80]] as const) {
      for (let at = 0; at < blocks; at += 8) for (const _ of [1, 2]) cache.readHead(ino, at * bs, 8 * bs);
    }
    const full = cache.stats().cachedBytes;
    assert.ok(full >= 96 * bs, `${full / bs} blocks cached`);

    store.head.remove(ROOT_INO, "gone", false);
    assert.equal(cache.stats().cachedBytes, full - 80 * bs, "the deleted file's blocks are gone");
    await tick();
    assert.equal(collections, 1, "48 of its buffers were dropped (32 kept for reuse)");

    store.head.remove(ROOT_INO, "kept", false);
    assert.equal(cache.stats().cachedBytes, full - 80 * bs, "the snapshot still holds these");
    release.close();
  },
  { blockSize: 65536 },
);
