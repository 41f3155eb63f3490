/**
 * Asking the disk for a batch of blocks ahead of loading them (the mount's loader
 * threads do, store/blocks/block_store.ts `prefetch`): every record down the blocks'
 * delta chains comes into the page cache without being read, packed or not, and what
 * the record layer hands back is what a read would.
 */
import assert from "node:assert/strict";
import { type BlockHash, compactStore, type FileEntry, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { deltaBaseOf } from "../store/blocks/block_codec.ts";
import { isPackRef } from "../store/records/lmdb_packs.ts";
import * as lmdb from "../sys/lmdb/mod.ts";
import { dropPages, readEntry, residentPages, Rng, tempDir } from "./helpers.ts";

const BLOCK = 64 * 1024;
const BLOCKS = 16;
const VERSIONS = 9;

/** A 1 MiB file of random bytes, then VERSIONS - 1 snapshots each rewriting 4 KiB of every block. */
async function storeWithChains(dir: string): Promise<{ first: Uint8Array; hashes: BlockHash[] }> {
  const rng = new Rng(41);
  const store = await Store.init(dir);
  try {
    const data = rng.bytes(BLOCKS * BLOCK);
    const first = data.slice();
    const ino = store.head.create(ROOT_INO, "f.bin", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    store.head.write(ino, 0, data);
    const rev = store.snapshot().rev;
    for (let v = 1; v < VERSIONS; v++) {
      for (let b = 0; b < BLOCKS; b++) store.head.write(ino, b * BLOCK + rng.int(15) * 4096, rng.bytes(4096));
      store.snapshot();
    }
    const e = store.revisionTree(rev).entry("f.bin") as FileEntry;
    assert.deepEqual(readEntry(store, e, 0, e.size), first);
    return { first, hashes: store.entryBlocks(e).map(([, h]) => h) };
  } finally {
    await store.close();
  }
}

/**
 * The file's pages that the records down these blocks' chains take, found through
 * sys/lmdb directly: where each value lies in the map, less where the map starts.
 */
function chainPages(dir: string, hashes: BlockHash[]): { records: number; deltas: number; pages: number[] } {
  const env = lmdb.Env.open(dir, { readOnly: true, tables: ["blocks"], mapBytes: 1 << 30 });
  const txn = env.begin(true);
  try {
    const start = Number(Deno.UnsafePointer.value(env.map().address));
    const pages = new Set<number>();
    let records = 0, deltas = 0;
    for (const top of hashes) {
      for (let h: Uint8Array | undefined = top; h; records++) {
        const stored: Uint8Array = env.view(txn, env.dbi("blocks")!, h)!;
        const at = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(stored))) - start;
        for (let p = Math.floor(at / 4096); p * 4096 < at + stored.length; p++) pages.add(p);
        h = deltaBaseOf(stored)?.slice();
        if (h) deltas++;
      }
    }
    return { records, deltas, pages: [...pages] };
  } finally {
    lmdb.abort(txn);
    env.close();
  }
}

Deno.test("prefetch: a batch's delta chains come into the page cache whole without being read", async () => {
  const dir = await tempDir();
  try {
    const { first, hashes } = await storeWithChains(`${dir}/s`);
    const file = `${dir}/s/data.mdb`;
    const want = chainPages(`${dir}/s`, hashes);
    // The oldest version's blocks sit on chains of deltas: most records are below the top.
    assert.ok(want.deltas >= BLOCKS * (VERSIONS - 2), `${want.deltas} delta records`);
    const resident = () => {
      const inCache = residentPages(file);
      return want.pages.filter((p) => inCache[p]).length;
    };

    for (const prefetch of [false, true]) {
      dropPages(file);
      const store = await Store.open(`${dir}/s`, { readAhead: "own" });
      // Opening reads the file's head and free list (read(2), with the kernel's readahead).
      const opened = resident();
      assert.ok(opened < want.pages.length / 2, `${opened} of ${want.pages.length} pages in after opening`);
      try {
        if (prefetch) store.prefetchBlocks(hashes);
        // Asked for, not read: the kernel brings them in behind us (or the test fails at 10 s).
        let got = 0;
        for (const until = Date.now() + (prefetch ? 10_000 : 300); Date.now() < until;) {
          got = resident();
          if (got === want.pages.length) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        if (prefetch) {
          assert.equal(got, want.pages.length, `pages of ${want.records} records in the page cache`);
          const read = new Uint8Array(BLOCKS * BLOCK);
          hashes.forEach((h, i) => read.set(store.loadBlock(h), i * BLOCK));
          assert.deepEqual(read, first);
        } else {
          assert.equal(got, opened, "without a prefetch, nothing more comes in");
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Block records that are references into packs, as the file holds them. */
function packedRecords(dir: string): number {
  const env = lmdb.Env.open(dir, { readOnly: true, tables: ["blocks"], mapBytes: 1 << 30 });
  try {
    const txn = env.begin(true);
    let n = 0;
    for (const [, v] of lmdb.range(txn, env.dbi("blocks")!, undefined, undefined)) if (isPackRef(v)) n++;
    lmdb.abort(txn);
    return n;
  } finally {
    env.close();
  }
}

Deno.test("prefetch: the records handed back are the records a read gives, packed by compaction or not, and missing ones are missing", async () => {
  const dir = await tempDir();
  try {
    await storeWithChains(`${dir}/s`);
    for (const compacted of [false, true]) {
      if (compacted) assert.ok((await compactStore(`${dir}/s`)).compacted);
      const store = await Store.open(`${dir}/s`, { readAhead: "own" });
      try {
        const records = store.parts.records;
        const keys = [...records.keys("blocks")];
        assert.ok(keys.length >= BLOCKS * VERSIONS, `${keys.length} block records`);
        const missing = new Uint8Array(32).fill(7);
        const got = records.prefetch("blocks", [...keys, missing])!;
        assert.ok(got, "a store that reads ahead itself prefetches");
        keys.forEach((k, i) =>
          assert.deepEqual(got[i], records.get("blocks", k), `record ${i}, compacted: ${compacted}`)
        );
        assert.equal(got[keys.length], undefined);
      } finally {
        await store.close();
      }
      assert.equal(packedRecords(`${dir}/s`) > 0, compacted, "compaction packs the deltas");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
