/**
 * A read's zstd records decoded on two threads (sys/zstd_pool): every frame of every
 * batch decoded right whichever thread took it, a damaged frame reported without
 * spoiling the others, and through the store and the page cache the same bytes as one
 * by one; without the library, reads go the old way.
 */
import assert from "node:assert/strict";
import { ZstdPool } from "../sys/zstd_pool/zstd_pool.ts";
import { compress, compressWithDict, initZstd } from "../store/blocks/zstd.ts";
import { decodeBlockRecord } from "../store/blocks/block_codec.ts";
import { PageCache } from "../fs/page_cache.ts";
import { type BlockHash, type FileEntry, hashKey, type Ino, ROOT_INO } from "../mod.ts";
import { Rng, storeTest } from "./helpers.ts";

Deno.test("zstd pool: batches of every size decode right, with and without a dictionary", async () => {
  await initZstd();
  const pool = ZstdPool.open();
  assert.ok(pool, "the library is built (bash sys/zstd_pool/build.sh) and libzstd is present");
  const rng = new Rng(8);
  const dict = rng.bytes(20_000, "text");
  const blocks = Array.from({ length: 64 }, (_, i) => rng.bytes(1 + rng.int(65_536), i % 5 === 0 ? "binary" : "text"));
  const frames = blocks.map((b, i) => i % 3 === 0 ? compressWithDict(b, dict) : compress(b));
  // Many small batches back to back: a batch must never see frames of the one before.
  for (let round = 0; round < 300; round++) {
    const picks = Array.from({ length: 1 + rng.int(20) }, () => rng.int(blocks.length));
    const targets = picks.map(() => new Uint8Array(65_536));
    const sizes = pool.decode(picks.map((p, k) => ({
      frame: frames[p],
      dict: p % 3 === 0 ? dict : undefined,
      into: targets[k],
    })));
    picks.forEach((p, k) => {
      assert.equal(sizes[k], blocks[p].length, `round ${round}, frame ${p}`);
      assert.deepEqual(targets[k].subarray(0, sizes[k]), blocks[p], `round ${round}, frame ${p}`);
    });
  }
});

Deno.test("zstd pool: a damaged frame or a short target is reported, the rest still decode", async () => {
  await initZstd();
  const pool = ZstdPool.open()!;
  const rng = new Rng(9);
  const a = rng.bytes(60_000, "text"), b = rng.bytes(50_000, "text");
  const damaged = compress(a);
  damaged[damaged.length - 10] ^= 0x20;
  const into = () => new Uint8Array(65_536);
  const targets = [into(), into(), new Uint8Array(100), into()];
  const sizes = pool.decode([
    { frame: compress(b), into: targets[0] },
    { frame: damaged, into: targets[1] },
    { frame: compress(a), into: targets[2] },
    { frame: compress(a), dict: b, into: targets[3] },
  ]);
  assert.deepEqual(sizes.slice(0, 3), [b.length, undefined, undefined]);
  assert.deepEqual(targets[0].subarray(0, b.length), b);
  // A frame made without the dictionary it is given still decodes (zstd ignores a raw one it does not need).
  assert.equal(sizes[3], a.length);
});

Deno.test("zstd pool: frames queued ahead decode while the caller goes on, waited for in any order and past the queue's size", async () => {
  await initZstd();
  const pool = ZstdPool.open()!;
  const rng = new Rng(12);
  const dict = rng.bytes(20_000, "text");
  const blocks = Array.from({ length: 40 }, (_, i) => rng.bytes(1 + rng.int(65_536), i % 4 === 0 ? "binary" : "text"));
  const frames = blocks.map((b, i) => i % 3 === 0 ? compressWithDict(b, dict) : compress(b));
  const jobOf = (p: number) => ({
    frame: frames[p],
    dict: p % 3 === 0 ? dict : undefined,
    into: new Uint8Array(65_536),
  });
  const check = (picks: number[], jobs: { into: Uint8Array }[], sizes: (number | undefined)[], what: string) =>
    picks.forEach((p, k) => {
      assert.equal(sizes[k], blocks[p].length, `${what}, frame ${p}`);
      assert.deepEqual(jobs[k].into.subarray(0, sizes[k]), blocks[p], `${what}, frame ${p}`);
    });
  for (let round = 0; round < 100; round++) {
    // A few batches queued, a batch decoded at once among them, then the queued ones
    // waited for newest first: each wait must take only frames that are done.
    const queued = Array.from({ length: 1 + rng.int(4) }, () => {
      const picks = Array.from({ length: 1 + rng.int(16) }, () => rng.int(blocks.length));
      const jobs = picks.map(jobOf);
      return { picks, jobs, batch: pool.ahead(jobs) };
    });
    const now = Array.from({ length: rng.int(6) }, () => rng.int(blocks.length));
    const nowJobs = now.map(jobOf);
    check(now, nowJobs, pool.decode(nowJobs), `round ${round}, at once`);
    for (const q of queued.reverse()) check(q.picks, q.jobs, pool.wait(q.batch), `round ${round}, ahead`);
  }
  // More frames than the queue holds (4,096): queueing decodes from the front to make room.
  const small = Array.from({ length: 64 }, () => rng.bytes(100 + rng.int(400), "text"));
  const smallFrames = small.map((b) => compress(b));
  const many = Array.from({ length: 5_000 }, (_, i) => ({ frame: smallFrames[i % 64], into: new Uint8Array(512) }));
  pool.wait(pool.ahead(many)).forEach((n, i) => {
    assert.deepEqual(many[i].into.subarray(0, n), small[i % 64], `frame ${i} of 5,000 queued`);
  });
});

/** A file whose 64 KiB blocks alternate text (zstd records) and random bytes (raw records). */
function mixedFile(rng: Rng, blocks: number): Uint8Array {
  const data = new Uint8Array(blocks * 65_536);
  for (let i = 0; i < blocks; i++) data.set(rng.bytes(65_536, i % 2 === 0 ? "text" : "binary"), i * 65_536);
  return data;
}

/** Reads a head file through the page cache in 1 MiB reads, in order, checking each against `data`. */
function readInOrder(cache: PageCache, ino: Ino, data: Uint8Array): void {
  for (let at = 0; at < data.length; at += 1 << 20) {
    const segments = cache.headSegments(ino, at, 1 << 20);
    assert.ok(!(segments instanceof Promise));
    let off = at;
    for (const s of segments) {
      assert.deepEqual(s, data.subarray(off, off + s.length), `at ${off}`);
      off += s.length;
    }
  }
}

storeTest("zstd pool: a read's blocks decoded together are the bytes one by one gives; a damaged one says so", (ts) => {
  const { store } = ts;
  const rng = new Rng(10);
  const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  const data = mixedFile(rng, 32);
  store.head.write(ino, 0, data);
  const f = store.head.inode(ino);
  assert.ok(f?.type === "file");
  const hashes = Array.from({ length: 32 }, (_, i) => store.head.blockHash(f, i)!);
  const kinds = hashes.map((h) => decodeBlockRecord(store.parts.records.get("blocks", h)!, "block").kind);
  assert.ok(kinds.includes("zstd") && kinds.includes("raw"), kinds.join());
  const got = store.readBlocksForReply(hashes, () => new Uint8Array(store.blockSize));
  got.forEach((g, i) => {
    if (kinds[i] === "zstd") assert.deepEqual(g, store.readBlock(hashes[i]), `block ${i}`);
    else assert.equal(g, undefined, `a ${kinds[i]} block is left to readBlockForReply`);
  });

  // Read through the page cache in 1 MiB reads: the same bytes, the compressed blocks
  // decoded once each and kept, but for those a read in order passed (BlockReads.passing).
  const cache = new PageCache(store, 16 << 20);
  readInOrder(cache, ino as Ino, data);
  assert.equal(cache.stats().misses, hashes.length, "each block read from the store once");
  assert.equal(cache.stats().cachedBlocks, kinds.slice(0, 16).filter((k) => k === "zstd").length, "the first read's");

  const zi = kinds.indexOf("zstd");
  const original = store.parts.records.get("blocks", hashes[zi])!.slice();
  const bad = original.slice();
  bad[original.length - 20] ^= 0x04;
  store.parts.records.write(() => store.parts.records.put("blocks", hashes[zi], bad));
  assert.throws(
    () => store.readBlocksForReply(hashes, () => new Uint8Array(store.blockSize)),
    /corrupt, its zstd record does not decode/,
  );
  store.parts.records.write(() => store.parts.records.put("blocks", hashes[zi], original));
});

storeTest("zstd pool: a reader in file order has its next reads' blocks decoded ahead, each once, and right", (ts) => {
  const { store } = ts;
  const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  const data = mixedFile(new Rng(13), 128); // 8 MiB, half of it zstd records
  store.head.write(ino, 0, data);
  store.commit();
  const cache = new PageCache(store, 16 << 20);
  const before = store.recordsDecoded;
  readInOrder(cache, ino as Ino, data);
  const stats = cache.stats();
  // Reads 3 to 8 (the first two start the reader off) have their 48 text blocks decoded ahead.
  assert.equal(stats.decodedAhead, 48, "blocks decoded ahead of their reads");
  assert.equal(store.recordsDecoded - before, 128, "each block's record decoded once");
  assert.equal(stats.misses, 128);
});

storeTest(
  "zstd pool: a damaged record among the next reads' blocks fails its own read, not the reads that looked ahead",
  (ts) => {
    const { store } = ts;
    const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    const data = mixedFile(new Rng(16), 96); // six 1 MiB reads
    store.head.write(ino, 0, data);
    store.commit();
    const f = store.head.inode(ino);
    assert.ok(f?.type === "file");
    // A text block of the fifth read given a kind no revfs writes: decoding ahead cannot even frame it.
    const victim = store.head.blockHash(f, 4 * 16 + 2)!;
    const original = store.parts.records.get("blocks", victim)!.slice();
    const bad = original.slice();
    bad[0] = 0x7f;
    store.parts.records.write(() => store.parts.records.put("blocks", victim, bad));
    const cache = new PageCache(store, 16 << 20);
    readInOrder(cache, ino as Ino, data.subarray(0, 4 << 20));
    assert.throws(() => cache.headSegments(ino as Ino, 4 << 20, 1 << 20), /unknown block record kind 127/);
    store.parts.records.write(() => store.parts.records.put("blocks", victim, original));
  },
);

storeTest("zstd pool: blocks queued ahead are waited for before a write begins, and come out right after it", (ts) => {
  const { store } = ts;
  const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  const data = mixedFile(new Rng(14), 16);
  store.head.write(ino, 0, data);
  store.commit();
  const f = store.head.inode(ino);
  assert.ok(f?.type === "file");
  const hashes = Array.from({ length: 16 }, (_, i) => store.head.blockHash(f, i)!);
  store.decodeBlocksAhead(hashes, () => new Uint8Array(store.blockSize));
  // The file rewritten and its old blocks' records deleted: a write the queued frames (views
  // of the store's map) must not outlive.
  store.head.write(ino, 0, mixedFile(new Rng(15), 16));
  store.parts.records.write(() => {
    for (const h of hashes) store.parts.records.del("blocks", h);
  });
  const got = store.collectDecodedAhead([]);
  assert.equal(got.length, 8, "the text blocks, ended by the write and handed out after it");
  for (const b of got) {
    const i = hashes.findIndex((h) => hashKey(h) === hashKey(b.hash));
    assert.deepEqual(b.data, data.subarray(i * 65_536, (i + 1) * 65_536), `block ${i}`);
  }
  assert.deepEqual(store.collectDecodedAhead(hashes), [], "each handed out once");
});

storeTest("zstd pool: without the library (REVFS_ZSTD=wasm) every block is left to the one-by-one path", (ts) => {
  const { store } = ts;
  Deno.env.set("REVFS_ZSTD", "wasm");
  try {
    const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    store.head.write(ino, 0, mixedFile(new Rng(11), 4));
    const f = store.head.inode(ino);
    assert.ok(f?.type === "file");
    const hashes = [0, 1, 2, 3].map((i) => store.head.blockHash(f, i)!) as BlockHash[];
    const got = store.readBlocksForReply(hashes, () => new Uint8Array(store.blockSize));
    assert.deepEqual(got, [undefined, undefined, undefined, undefined]);
  } finally {
    Deno.env.delete("REVFS_ZSTD");
  }
});

storeTest(
  "zstd pool: blocks looked up ahead answer storedWhole without a second lookup; a delta is still one",
  (ts) => {
    const { store } = ts;
    const ino = store.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    const rng = new Rng(17);
    const data = mixedFile(rng, 16);
    store.head.write(ino, 0, data);
    const first = store.snapshot().rev;
    // Every block edited: the first revision's blocks become deltas on the new ones.
    for (let off = 0; off < data.length; off += 65_536) store.head.write(ino, off + 7, rng.bytes(16));
    const second = store.snapshot().rev;
    const blocks = (rev: typeof first) =>
      store.entryBlocks(store.revisionTree(rev).entry("f") as FileEntry).map(([, h]) => h);
    const whole = blocks(second), deltas = blocks(first);
    assert.ok(!store.storedWhole(deltas), "the first revision's blocks are deltas");

    const records = store.parts.records;
    const peek = records.peekAll.bind(records);
    let looked = 0;
    records.peekAll = (table, keys, asked) => {
      looked += keys.length;
      return peek(table, keys, asked);
    };
    const into = () => new Uint8Array(store.blockSize);
    store.decodeBlocksAhead([...whole, ...deltas], into);
    looked = 0;
    assert.ok(store.storedWhole(whole), "raw and zstd blocks are whole");
    assert.equal(looked, 0, "blocks looked up ahead were looked up again");
    assert.ok(!store.storedWhole(deltas), "a delta looked up ahead was taken for a whole block");
    assert.equal(looked, deltas.length, "deltas are looked up again");
    // The raw blocks' answer is used once; queued ones count until their read collects them.
    looked = 0;
    assert.ok(store.storedWhole(whole));
    assert.equal(looked, whole.length / 2, "raw blocks are looked up again after their read asked");
    const got = store.collectDecodedAhead(whole);
    assert.equal(got.length, whole.length / 2, "the zstd blocks were decoded ahead");
    for (const b of got) assert.deepEqual(b.data, store.readBlock(b.hash));
    records.peekAll = peek;
  },
);
