/**
 * Blocks only the head holds are freed when the head lets go of them (store/head/fresh_blocks.ts):
 * a file rewritten block by block between snapshots, as a database is, does not grow the
 * store, and nothing a revision or another file holds is ever freed.
 */
import assert from "node:assert/strict";
import { type FileEntry, type FileInode, type RevNumber, ROOT_INO } from "../mod.ts";
import type { Store } from "../store/store.ts";
import { everyRevision, readHead, Rng, runCli, storeTest, tempDir } from "./helpers.ts";
import { withMount } from "./mount_helpers.ts";

const node = { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n } as const;
const MiB = 1 << 20;

/** `writes` random 4 KiB writes into a file of `size`, written out (as fsync does) every 10; returns the model. */
function databaseLike(store: Store, ino: number, size: number, writes: number, rng: Rng): Uint8Array {
  const bs = store.blockSize;
  const model = rng.bytes(size);
  store.head.writeBlocks([{ ino: ino as never, size, mtimeNs: 1n, blocks: blocksOf(model, bs, null) }]);
  let touched = new Set<number>();
  for (let w = 1; w <= writes; w++) {
    const at = rng.int(size / 4096) * 4096;
    model.set(rng.bytes(4096), at);
    touched.add(Math.floor(at / bs));
    if (w % 10 === 0) {
      store.head.writeBlocks([{ ino: ino as never, size, mtimeNs: BigInt(w), blocks: blocksOf(model, bs, touched) }]);
      touched = new Set();
    }
  }
  return model;
}

function blocksOf(data: Uint8Array, bs: number, only: Set<number> | null): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  for (let i = 0; i * bs < data.length; i++) {
    if (!only || only.has(i)) out.push([i, data.slice(i * bs, (i + 1) * bs)]);
  }
  return out;
}

storeTest("fresh blocks: a file rewritten between snapshots stays the head's size", (ts) => {
  const { store } = ts;
  const size = 8 * MiB;
  const ino = store.head.create(ROOT_INO, "db.sqlite", node).ino;
  const model = databaseLike(store, ino, size, 600, new Rng(5));
  assert.deepEqual(readHead(store, ino, 0, size), model);
  // Every block written over was freed at once: what is stored is the file, once.
  const { storedBytes } = store.stats();
  assert.ok(storedBytes <= 1.2 * size, `${storedBytes} bytes stored for a ${size}-byte head and no snapshot`);
});

storeTest("fresh blocks: what a revision holds is kept, and freed blocks leave every revision readable", (ts) => {
  const { store } = ts;
  const rng = new Rng(6);
  const size = 2 * MiB;
  const ino = store.head.create(ROOT_INO, "db.sqlite", node).ino;
  const models: Uint8Array[] = [];
  for (let r = 0; r < 4; r++) {
    models.push(databaseLike(store, ino, size, 100, rng).slice());
    store.snapshot();
  }
  const revs = everyRevision(store);
  assert.equal(revs.size, 4);
  for (let r = 0; r < 4; r++) {
    const e = store.revisionTree((r + 1) as RevNumber).entry("db.sqlite") as FileEntry;
    let at = 0;
    for (let i = 0; at < size; i++, at += store.blockSize) {
      const h = store.entryBlock(e, i)!;
      assert.deepEqual(
        store.readBlock(h),
        models[r].subarray(at, at + store.blockSize),
        `revision ${r + 1} block ${i}`,
      );
    }
  }
  // Between snapshots the head alone grows by at most the blocks it holds that revision 4 does not.
  const before = store.stats().storedBytes;
  databaseLike(store, ino, size, 100, rng);
  const grew = store.stats().storedBytes - before;
  assert.ok(grew <= size + 64 * 1024, `the head grew the store by ${grew} bytes`);
});

storeTest("fresh blocks: a block two files share is freed only when neither holds it", (ts) => {
  const { store } = ts;
  const block = new Rng(7).bytes(store.blockSize);
  const a = store.head.create(ROOT_INO, "a", node).ino;
  const b = store.head.create(ROOT_INO, "b", node).ino;
  store.head.write(a, 0, block);
  store.head.write(b, 0, block);
  const stored = () => store.stats().storedBytes;
  const withBlock = stored();
  assert.ok(withBlock >= block.length);
  store.head.write(a, 0, new Uint8Array(block.length).fill(1));
  assert.deepEqual(readHead(store, b, 0, block.length), block, "b lost the block a let go of");
  store.head.remove(ROOT_INO, "b", false);
  store.commit();
  // Now nobody holds it: only a's one-byte-pattern block is left.
  assert.ok(stored() < withBlock - block.length / 2, `${stored()} bytes still stored`);
  const f = store.head.inode(a) as FileInode;
  assert.equal(f.size, block.length);
});

Deno.test("fresh blocks: 2,000 random 4 KiB writes with an fsync every 10 through a mount stay near the file's size", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`;
    const size = 16 * MiB;
    const rng = new Rng(8);
    await withMount(`${dir}/store`, mnt, async () => {
      const path = `${mnt}/db.sqlite`;
      await Deno.writeFile(path, rng.bytes(size));
      using f = await Deno.open(path, { read: true, write: true });
      const model = await Deno.readFile(path);
      for (let w = 1; w <= 2000; w++) {
        const at = rng.int(size / 4096) * 4096;
        const data = rng.bytes(4096);
        model.set(data, at);
        await f.seek(at, Deno.SeekMode.Start);
        assert.equal(await f.write(data), data.length);
        if (w % 10 === 0) await f.sync();
      }
      await f.sync();
      assert.deepEqual(await Deno.readFile(path), model);
    });
    const stats = JSON.parse((await runCli("stats", `${dir}/store`, "--json")).stdout);
    assert.ok(stats.storedBytes <= 1.2 * size, `${stats.storedBytes} bytes stored for a ${size}-byte file`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

storeTest("fresh blocks: rewriting a small inline file with the bytes it holds stores nothing", (ts) => {
  const { store } = ts;
  const text = new TextEncoder().encode("the same small file\n");
  const ino = store.head.create(ROOT_INO, "same.txt", node).ino;
  store.head.write(ino, 0, text);
  store.snapshot();
  assert.ok((store.head.inode(ino) as FileInode).inline);
  const before = store.stats().storedBytes;
  store.head.write(ino, 0, text);
  store.head.writeBlocks([{ ino, size: text.length, mtimeNs: 5n, blocks: [[0, text]] }]);
  assert.equal(store.stats().storedBytes, before, "an unneeded block was left behind");
  assert.deepEqual(readHead(store, ino, 0, text.length), text);
});
