/**
 * Block loads off the request path (fs/block_loader.ts): the page cache with real
 * loader threads, and a real mount whose loads are slowed down on purpose to show what
 * they hold up.
 */
import assert from "node:assert/strict";
import { type BlockHash, fileChunks, type FileEntry, gather, type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { BlockLoader } from "../fs/block_loader.ts";
import { PageCache } from "../fs/page_cache.ts";
import type { PageCacheStats } from "../fs/page_cache_stats.ts";
import { assertBytes, concatBytes, Rng, runCli, storeTest, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

const BS = 4096;

function writeFile(store: Store, name: string, data: Uint8Array): Ino {
  const ino = store.head.create(ROOT_INO, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  store.head.write(ino, 0, data);
  return ino;
}

/**
 * Edits every block of a file in the head and snapshots: the blocks the revisions before
 * held become deltas on the new ones, which a revision's read leaves to the loader threads.
 */
function chainBlocks(store: Store, files: [Ino, number][], rng: Rng): RevNumber {
  for (const [ino, size] of files) {
    for (let off = 0; off < size; off += BS) store.head.write(ino, off + 7, rng.bytes(Math.min(16, size - off - 7)));
  }
  return store.snapshot().rev;
}

function blocksOf(store: Store, rev: RevNumber, name: string): BlockHash[] {
  const e = store.revisionTree(rev).entry(name) as FileEntry;
  return store.entryBlocks(e).map(([, h]) => h);
}

/** A revision's file as the store reads it on this thread. */
function stored(store: Store, rev: RevNumber, path: string): Uint8Array {
  return concatBytes(fileChunks(store.view(rev), path, store.blockSize));
}

storeTest(
  "loads: a revision's delta chains load on loader threads, each block once; its whole blocks load here",
  async (ts) => {
    const { store } = ts;
    const loader = await BlockLoader.start(store.dir, { threads: 2 });
    try {
      const rng = new Rng(5);
      const a = rng.bytes(40 * BS + 123);
      // b shares its first 20 blocks with a: the same hashes, so the same loads.
      const b = new Uint8Array(30 * BS);
      b.set(a.subarray(0, 20 * BS));
      b.set(rng.bytes(10 * BS), 20 * BS);
      const inoA = writeFile(store, "a", a);
      const inoB = writeFile(store, "b", b);
      const rev = store.snapshot().rev;
      const entryOf = (name: string) => store.revisionTree(rev).entry(name) as FileEntry;

      // Both files read in 32 KiB pieces, every request in flight at once, as the kernel
      // sends them.
      const readBoth = async (cache: PageCache) => {
        const piece = 8 * BS;
        const reads: Promise<void>[] = [];
        for (let off = 0; off < a.length; off += piece) {
          for (const [name, want] of [["a", a], ["b", b]] as const) {
            const at = off;
            reads.push(
              Promise.resolve(cache.entrySegments(entryOf(name), at, piece, name)).then((segs) => {
                assert.deepEqual(gather(segs), want.slice(at, at + piece), `${name} at ${at}`);
              }),
            );
          }
        }
        await Promise.all(reads);
      };
      // Stored whole, the revision's blocks are read on this thread, as the head's are.
      assert.ok(store.storedWhole([...blocksOf(store, rev, "a"), ...blocksOf(store, rev, "b")]));
      const cache = new PageCache(store, 256 * BS, loader);
      await readBoth(cache);
      let st: PageCacheStats = cache.stats();
      assert.equal(st.loads, 0, `whole blocks went to a loader thread: ${JSON.stringify(st)}`);
      // Random bytes are stored raw, and raw blocks are answered from the store's memory,
      // not cached: the shared ones are read for each file.
      assert.equal(st.misses, 41 + 30, `a block was read twice or not at all: ${JSON.stringify(st)}`);
      // The head has the same blocks: read at once, without a promise.
      const again = cache.headSegments(inoA, 0, a.length);
      assert.ok(Array.isArray(again), "a read of the head waited");
      assert.deepEqual(gather(again), a);

      // Every block edited since: the revision's blocks are delta chains now.
      chainBlocks(store, [[inoA, a.length], [inoB, b.length]], rng);
      assert.ok(!store.storedWhole(blocksOf(store, rev, "a")), "no block of a became a delta");
      const chained = new PageCache(store, 256 * BS, loader);
      await readBoth(chained);
      st = chained.stats();
      assert.equal(st.loads, 41 + 10, `a block was loaded twice or not at all: ${JSON.stringify(st)}`);
      assert.equal(st.misses, 0, "a delta chain was decoded on the request thread");
      assert.ok(st.sharedLoads >= 20, `reads of shared blocks did not share loads: ${JSON.stringify(st)}`);
      assert.equal(st.loadsInFlight, 0);

      // A head block nobody is loading is loaded on the request thread: it is stored whole.
      const c = rng.bytes(16 * BS);
      const inoC = writeFile(store, "c", c);
      const direct = chained.headSegments(inoC, 0, c.length);
      assert.ok(Array.isArray(direct), "a read of the head waited for a loader thread");
      assert.deepEqual(gather(direct), c);
      assert.equal(chained.stats().misses, 16);

      // A revision's file of delta chains read in order in small pieces gets the blocks
      // after it loaded ahead.
      const d = rng.bytes(64 * BS);
      const inoD = writeFile(store, "d", d);
      const entryD = store.revisionTree(store.snapshot().rev).entry("d") as FileEntry;
      chainBlocks(store, [[inoD, d.length]], rng);
      const before = chained.stats();
      for (let off = 0; off < d.length; off += 2 * BS) {
        assert.deepEqual(gather(await chained.entrySegments(entryD, off, 2 * BS, "d")), d.slice(off, off + 2 * BS));
      }
      const after = chained.stats();
      assert.ok(after.readaheadLoads - before.readaheadLoads > 32, `no readahead: ${JSON.stringify(after)}`);
      assert.equal(after.loads - before.loads, 64, "readahead loaded a block twice");
    } finally {
      await loader.close();
    }
  },
  { blockSize: BS },
);

for (const prepared of [false, true]) {
  const how = prepared ? ", started ahead by prepare()" : "";
  storeTest(
    `loads: a second loader thread serves once reads decode delta chains, not for whole blocks${how}`,
    async (ts) => {
      await secondThreadForChains(ts.store, prepared);
    },
    { blockSize: BS },
  );
}

async function secondThreadForChains(store: Store, prepared: boolean): Promise<void> {
  const rng = new Rng(9);
  const text = rng.bytes(24 * BS, "text");
  const ino = writeFile(store, "t", text);
  const first = store.snapshot().rev;
  // Every block edited in three more revisions: revision `first`'s blocks become chains of three deltas.
  for (let v = 0; v < 3; v++) {
    for (let b = 0; b < 24; b++) store.head.write(ino, b * BS + 100 + v * 40, rng.bytes(20, "text"));
    store.snapshot();
  }
  writeFile(store, "w", rng.bytes(24 * BS));
  const last = store.snapshot().rev;
  const loader = await BlockLoader.start(store.dir, { threads: 1, maxThreads: 2 });
  try {
    // A spare thread is started but given no loads until a chain is decoded.
    if (prepared) loader.prepare();
    const cache = new PageCache(store, 256 * BS, loader);
    const read = async (rev: RevNumber, name: string) => {
      const e = store.revisionTree(rev).entry(name) as FileEntry;
      return gather(await cache.entrySegments(e, 0, e.size, name));
    };
    assert.equal(loader.threadCount, 1);
    assert.equal((await read(last, "w")).length, 24 * BS);
    assert.deepEqual(await read(last, "t"), stored(store, last, "t"));
    assert.equal(loader.threadCount, 1, "whole blocks started a second thread");
    assert.deepEqual(await read(first, "t"), text);
    assert.equal(loader.threadCount, 2, "reads of delta chains did not start a second thread");
    // Both threads serve what comes next.
    const next = first + 1 as RevNumber;
    assert.deepEqual(await read(next, "t"), stored(store, next, "t"));
  } finally {
    await loader.close();
  }
  assert.equal(loader.threadCount, 0);
}

storeTest("loads: a damaged block fails its reads through the loader, and other blocks still load", async (ts) => {
  const { store } = ts;
  const loader = await BlockLoader.start(store.dir, { threads: 1 });
  try {
    const rng = new Rng(6);
    const data = rng.bytes(4 * BS);
    const ino = writeFile(store, "f", data);
    const rev = store.snapshot().rev;
    chainBlocks(store, [[ino, data.length]], rng);
    // A flipped bit in the frame of block 2's delta: it no longer matches its checksum.
    const damaged = blocksOf(store, rev, "f")[2];
    assert.ok(!store.storedWhole([damaged]));
    const original = store.parts.records.get("blocks", damaged)!.slice();
    const bad = original.slice();
    bad[bad.length - 2] ^= 0x20;
    store.parts.records.write(() => store.parts.records.put("blocks", damaged, bad));
    const e = store.revisionTree(rev).entry("f") as FileEntry;
    const cache = new PageCache(store, 64 * BS, loader);
    await assert.rejects(Promise.resolve(cache.entrySegments(e, 2 * BS, BS)), (err: Error) => {
      assert.match(err.message, /corrupt/);
      assert.equal((err as { code?: string }).code, "CORRUPT");
      return true;
    });
    assert.deepEqual(gather(await cache.entrySegments(e, 0, 2 * BS)), data.slice(0, 2 * BS));
    // Put the block back: the store the test leaves must verify.
    store.parts.records.write(() => store.parts.records.put("blocks", damaged, original));
  } finally {
    await loader.close();
  }
}, { blockSize: BS });

Deno.test("loads: a slow load through the mount holds up only the reads of its blocks", async () => {
  const dir = await tempDir("revfs-loads-");
  try {
    const src = `${dir}/src`;
    await Deno.mkdir(src);
    const slow = new Rng(7).bytes(4 * 65536);
    await Deno.writeFile(`${src}/slow.bin`, slow);
    await Deno.writeFile(`${src}/quick.txt`, new TextEncoder().encode("quick\n"));
    const store = `${dir}/store`;
    assert.equal((await runCli("import", store, src)).code, 0);
    // Revision 2 has the same slow.bin: the same blocks under another inode.
    await Deno.writeFile(`${src}/more.txt`, new TextEncoder().encode("more\n"));
    assert.equal((await runCli("import", store, src)).code, 0);
    // Revision 3 has every block of slow.bin edited: the blocks of 1 and 2 become delta
    // chains, which loader threads decode (whole blocks are read on the request thread).
    const edited = slow.slice();
    for (let off = 0; off < edited.length; off += 65536) edited[off + 9] ^= 1;
    await Deno.writeFile(`${src}/slow.bin`, edited);
    assert.equal((await runCli("import", store, src)).code, 0);
    const mnt = `${dir}/mnt`;
    // Every block load takes 4 s.
    await withMount(
      store,
      mnt,
      async () => {
        const mountStats = async () => {
          const r = await runCli("stats", store, "--json");
          assert.equal(r.code, 0, r.stderr);
          return JSON.parse(r.stdout).mount.cache as PageCacheStats;
        };
        // The same blocks through two inodes: the kernel sends both reads.
        const readers = [`${mnt}/.snapshots/1/slow.bin`, `${mnt}/.snapshots/2/slow.bin`].map((p) =>
          new Deno.Command("cat", { args: [p], stdout: "piped" }).output()
        );
        for (let i = 0; (await mountStats()).loadsInFlight === 0; i++) {
          assert.ok(i < 100, "the reads never started a load");
          await new Promise((r) => setTimeout(r, 20));
        }
        // Meanwhile other requests are answered, loads or no loads.
        const quick = await sh(
          `stat ${mnt}/quick.txt >/dev/null && ls ${mnt}/.snapshots/1 && cat ${mnt}/quick.txt && printf new > ${mnt}/new.txt && cat ${mnt}/new.txt`,
        );
        assert.equal(quick.code, 0, quick.stderr);
        assert.match(quick.stdout, /quick\.txt[\s\S]*slow\.bin\nquick\nnew$/);
        assert.ok((await mountStats()).loadsInFlight > 0, "the other requests waited for the slow load");

        for (const r of await Promise.all(readers)) {
          assert.equal(r.code, 0);
          assert.deepEqual(r.stdout, slow);
        }
        const st = await mountStats();
        assert.equal(st.loads, 4, `each of the 4 blocks loaded once: ${JSON.stringify(st)}`);
        assert.ok(st.sharedLoads >= 1, `the two reads did not share a load: ${JSON.stringify(st)}`);
        // quick.txt is kept inline in its directory page: reading it loads no block at all.
        assert.equal(st.misses, 0, "a block was loaded on the request thread");
      },
      [],
      { REVFS_TEST_LOAD_DELAY_MS: "4000" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

storeTest(
  "loads: views handed out after a wait stay intact while later reads reuse the cache's buffers",
  async (ts) => {
    const { store } = ts;
    const loader = await BlockLoader.start(store.dir, { threads: 1 });
    try {
      const rng = new Rng(8);
      const a = rng.bytes(2 * BS);
      const other = rng.bytes(32 * BS);
      const inoA = writeFile(store, "a", a);
      const otherIno = writeFile(store, "other", other);
      const rev = store.snapshot().rev;
      chainBlocks(store, [[inoA, a.length]], rng);
      // A budget of 8 blocks: the reads below evict a's blocks, and the cache reuses
      // evicted buffers for what it loads next.
      const cache = new PageCache(store, 8 * BS, loader);
      const waited = cache.entrySegments(store.revisionTree(rev).entry("a") as FileEntry, 0, 2 * BS);
      assert.ok(waited instanceof Promise, "a cold read of a revision's delta chains did not wait for the loader");
      // The session replies to a read that waited a little later, after other requests may
      // have run: these views must still hold a's bytes then.
      const views = await waited;
      for (let round = 0; round < 3; round++) {
        for (let off = 0; off < other.length; off += 4 * BS) {
          assertBytes(cache.readHead(otherIno, off, 4 * BS), other.slice(off, off + 4 * BS), `other at ${off}`);
        }
      }
      assertBytes(gather(views), a, "views handed out after a wait");
      assert.ok(cache.stats().misses >= 32, "the later reads did not load (and so reuse buffers)");

      // Once the reply is sent, its buffers go back to the cache: later loads reuse them.
      const again = await cache.entrySegments(store.revisionTree(rev).entry("a") as FileEntry, 0, 2 * BS);
      assertBytes(gather(again), a, "a read again");
      assert.equal(again.length, 2, "one view per block");
      cache.sent(again);
      for (let off = 0; off < other.length; off += 4 * BS) cache.readHead(otherIno, off, 4 * BS);
      assert.ok(
        again.every((v, k) => !v.every((b, i) => b === a[k * BS + i])),
        "buffers of a sent reply were not reused",
      );
    } finally {
      await loader.close();
    }
  },
  { blockSize: BS },
);

Deno.test("loads: loader threads on a directory that is not a store fail to start, and none is left running", async () => {
  const dir = await tempDir("revfs-loader-");
  try {
    await assert.rejects(BlockLoader.start(dir, { threads: 2 }), (e: Error) => {
      assert.equal((e as { code?: string }).code, "INVALID");
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
