/**
 * Reading a head file in order asks the store for its next blocks' records
 * (fs/head_prefetch.ts): which blocks, when, and that it follows no delta chain (that
 * would wait for the disk on the request thread); records asked for together are asked
 * of the disk in address order, near ones as one range (sys/lmdb/read_ahead.ts).
 */
import assert from "node:assert/strict";
import { type BlockHash, type FileEntry, type Ino, ROOT_INO } from "../mod.ts";
import { HeadPrefetch } from "../fs/head_prefetch.ts";
import { PageCache } from "../fs/page_cache.ts";
import { Store } from "../store/store.ts";
import { deltaBaseOf } from "../store/blocks/block_codec.ts";
import { mergeRanges } from "../sys/lmdb/read_ahead.ts";
import * as lmdb from "../sys/lmdb/mod.ts";
import { dropPages, residentPages, residentWhen, Rng, storeTest, tempDir } from "./helpers.ts";

const BS = 64 * 1024;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

Deno.test("head prefetch: a reader in file order gets the next 4 MiB asked for, half a window at a time", () => {
  const asked: number[][] = [];
  const p = new HeadPrefetch(BS, (hashes) => asked.push(hashes.map((h) => h[0])));
  const hashOf = (idx: number) => (idx === 5 ? null : new Uint8Array([idx]) as BlockHash);
  const ino = 7 as Ino;
  const size = 100 * BS;
  p.read(ino, 0, 2 * BS, size, hashOf);
  assert.deepEqual(asked, [], "a first read is no order yet");
  p.read(ino, 2 * BS, 4 * BS, size, hashOf);
  const ahead = (4 << 20) / BS;
  assert.deepEqual(
    asked,
    [Array.from({ length: ahead }, (_, i) => 4 + i).filter((i) => i !== 5)],
    "blocks 4..67, no hole",
  );
  for (let at = 4; at < 4 + ahead / 2 - 2; at += 2) p.read(ino, at * BS, (at + 2) * BS, size, hashOf);
  assert.equal(asked.length, 1, "nothing more until half of it is read");
  p.read(ino, 34 * BS, 36 * BS, size, hashOf);
  assert.deepEqual(asked[1], Array.from({ length: 36 + ahead - 68 }, (_, i) => 68 + i), "then the next stretch only");
  // Past the end of the file nothing is asked; a jump starts over.
  p.read(ino, 90 * BS, 92 * BS, size, hashOf);
  p.read(ino, 92 * BS, 94 * BS, size, hashOf);
  assert.deepEqual(asked[2], [94, 95, 96, 97, 98, 99]);
  p.forget(ino);
  p.read(ino, 94 * BS, 96 * BS, size, hashOf);
  assert.equal(asked.length, 3, "a forgotten reader starts over");
  assert.equal(p.asked, asked.flat().length);
});

Deno.test("read ahead: ranges asked together are merged in address order when near", () => {
  assert.deepEqual(mergeRanges([[900, 1000], [0, 100], [150, 300], [250, 260], [1400, 1500]], 100), [
    [0, 300],
    [900, 1000],
    [1400, 1500],
  ]);
  assert.deepEqual(mergeRanges([], 100), []);
});

/** A read through the mount's path (headSegments), joined; with no loader threads it is never a wait. */
function readThrough(cache: PageCache, ino: Ino, offset: number, length: number): Uint8Array {
  const segments = cache.headSegments(ino, offset, length);
  if (segments instanceof Promise) throw new Error("a read without loader threads waited");
  const out = new Uint8Array(segments.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of segments) out.set(s, (at += s.length) - s.length);
  return out;
}

storeTest(
  "head prefetch: the page cache asks ahead for a head file read in order, not for one read at random",
  (ts) => {
    const { store } = ts;
    const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    const data = new Rng(5).bytes(8 << 20);
    store.head.write(ino, 0, data);
    const bs = store.blockSize;
    const blocks = data.length / bs;
    const random = new PageCache(store, 16 << 20);
    // Each read 37 blocks (mod the file) past the last: never next to it.
    for (let i = 1; i <= 50; i++) {
      const at = (i * 37 % blocks) * bs;
      assert.deepEqual(readThrough(random, ino, at, bs), data.subarray(at, at + bs));
    }
    assert.equal(random.stats().headPrefetches, 0, "random reads asked ahead");
    const inOrder = new PageCache(store, 16 << 20);
    for (let at = 0; at < data.length; at += 128 << 10) {
      assert.deepEqual(readThrough(inOrder, ino, at, 128 << 10), data.subarray(at, at + (128 << 10)));
    }
    // Every block past the first two reads is asked for once.
    assert.equal(inOrder.stats().headPrefetches, blocks - (256 << 10) / bs);
  },
);

storeTest(
  "head prefetch: a reader in file order leaves the blocks it read to the kernel, a random one keeps them",
  (ts) => {
    const { store } = ts;
    const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    // Text: compressed records, decoded into the cache's buffers (raw ones are answered in place).
    const data = new Rng(6).bytes(4 << 20, "text");
    store.head.write(ino, 0, data);
    store.commit();
    const bs = store.blockSize;
    const inOrder = new PageCache(store, 16 << 20);
    // 96 KiB reads: every other one ends inside a block, which the next read starts with.
    const step = 96 << 10;
    let most = 0;
    for (let at = 0; at < data.length; at += step) {
      assert.deepEqual(readThrough(inOrder, ino, at, step), data.subarray(at, at + step));
      most = Math.max(most, inOrder.stats().cachedBlocks);
    }
    assert.ok(inOrder.stats().misses >= data.length / bs, "every block was decoded here");
    // The first two reads are no order yet; after them at most the block a read ended inside.
    assert.ok(most <= 4, `${most} blocks kept at most`);
    assert.ok(
      inOrder.stats().misses < data.length / bs + 4,
      `${inOrder.stats().misses} blocks decoded: one ended inside was decoded again`,
    );
    const random = new PageCache(store, 16 << 20);
    const blocks = data.length / bs;
    for (let i = 1; i <= 20; i++) {
      const at = (i * 37 % blocks) * bs;
      assert.deepEqual(readThrough(random, ino, at, bs), data.subarray(at, at + bs));
    }
    assert.equal(random.stats().cachedBlocks, 20, "blocks read at random are kept");
  },
);

for (const depth of ["top", "ahead"] as const) {
  Deno.test(`prefetch ${depth}: only the records named come into the page cache, not their bases`, async () => {
    await prefetchedPages(depth);
  });
}

storeTest("prefetch ahead: closing the store while the helper threads work on it is safe", async (ts) => {
  const { store } = ts;
  const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  const data = new Rng(8).bytes(4 << 20);
  store.head.write(ino, 0, data);
  store.snapshot();
  const hashes = store.entryBlocks(store.revisionTree(store.revisions().at(-1)!.rev).entry("f") as FileEntry)
    .map(([, h]) => h);
  await store.close();
  for (let i = 0; i < 20; i++) {
    dropPages(`${ts.dir}/store/data.mdb`);
    const s = await Store.open(`${ts.dir}/store`, { readAhead: "own" });
    for (let j = 0; j < 8; j++) s.prefetchBlocks(hashes, "ahead");
    await s.close();
  }
  const s = await Store.open(`${ts.dir}/store`);
  try {
    const blocks = hashes.map((h) => s.readBlock(h));
    assert.deepEqual(concat(blocks), data);
  } finally {
    await s.close();
  }
});

/** Prefetches a revision's blocks at `depth` in a store whose pages were dropped; checks which pages came in. */
async function prefetchedPages(depth: "top" | "ahead"): Promise<void> {
  const dir = await tempDir();
  try {
    const store = await Store.init(`${dir}/s`);
    const rng = new Rng(9);
    const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    store.head.write(ino, 0, rng.bytes(16 * BS));
    const rev = store.snapshot().rev;
    for (let v = 0; v < 6; v++) {
      for (let b = 0; b < 16; b++) store.head.write(ino, b * BS + rng.int(15) * 4096, rng.bytes(4096));
      store.snapshot();
    }
    const hashes = store.entryBlocks(store.revisionTree(rev).entry("f") as FileEntry).map(([, h]) => h);
    await store.close();
    const pagesOf = (deep: boolean) => {
      const env = lmdb.Env.open(`${dir}/s`, { readOnly: true, tables: ["blocks"], mapBytes: 1 << 30 });
      const txn = env.begin(true);
      const start = Number(Deno.UnsafePointer.value(env.map().address));
      const pages = new Set<number>();
      for (const top of hashes) {
        for (let h: Uint8Array | undefined = top, depth = 0; h; depth++) {
          const v: Uint8Array = env.view(txn, env.dbi("blocks")!, h)!;
          const at = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(v))) - start;
          if (depth > 0 === deep) { for (let p = Math.floor(at / 4096); p * 4096 < at + v.length; p++) pages.add(p); }
          h = deltaBaseOf(v)?.slice();
        }
      }
      lmdb.abort(txn);
      env.close();
      return [...pages];
    };
    const tops = pagesOf(false), bases = pagesOf(true).filter((p) => !tops.includes(p));
    assert.ok(bases.length > 50, `${bases.length} pages of bases only`);
    const file = `${dir}/s/data.mdb`;
    dropPages(file);
    const s = await Store.open(`${dir}/s`, { readAhead: "own" });
    try {
      s.prefetchBlocks(hashes, depth);
      const resident = residentPages(file);
      const after = await residentWhen(file, (r) => tops.every((p) => r[p]));
      assert.equal(tops.filter((p) => after[p]).length, tops.length, "the records named came in");
      const basesIn = bases.filter((p) => after[p] && !resident[p]).length;
      assert.ok(basesIn < bases.length / 4, `${basesIn} of ${bases.length} base pages came in`);
    } finally {
      await s.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
