/**
 * The mount's page cache without FUSE: random writes, truncates, reads, writeouts and
 * snapshots against a byte model, with a budget of a few blocks so eviction and
 * writeout under pressure happen all the time.
 */
import assert from "node:assert/strict";
import { type FileEntry, type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { PageCache } from "../fs/page_cache.ts";
import type { Store } from "../store/store.ts";
import { assertBytes, checkStoreInvariants, readHead, Rng, storeTest } from "./helpers.ts";

const BS = 4096;

function newFile(store: Store, name: string): Ino {
  return store.head.create(ROOT_INO, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
}

function entryOf(store: Store, rev: RevNumber, name: string): FileEntry {
  const e = store.revisionTree(rev).entry(name);
  assert.equal(e.type, "file");
  return e as FileEntry;
}

// 64 KiB blocks too: there a small write makes a small dirty page that grows.
for (const BS of [4096, 65536]) {
  storeTest(
    `page cache: random writes, truncates and snapshots match a byte model within the budget (${BS}-byte blocks)`,
    (ts) => {
      const { store } = ts;
      const budget = 12 * BS;
      const cache = new PageCache(store, budget);
      const rng = new Rng(77);
      const names = ["a", "b", "c"];
      const inos = new Map(names.map((n) => [n, newFile(store, n)]));
      const model = new Map(names.map((n) => [n, new Uint8Array(0)]));
      const snaps: [RevNumber, Map<string, Uint8Array>][] = [];
      for (let step = 0; step < 1500; step++) {
        const name = rng.pick(names);
        const ino = inos.get(name)!;
        let m = model.get(name)!;
        const op = rng.int(20);
        if (op < 11) {
          const at = rng.chance(0.1) ? m.length + rng.int(4 * BS) : rng.int(m.length + 1);
          const data = rng.chance(0.15) ? new Uint8Array(1 + rng.int(3 * BS)) : rng.bytes(1 + rng.int(3 * BS));
          cache.write(ino, at, data);
          const grown = new Uint8Array(Math.max(m.length, at + data.length));
          grown.set(m);
          grown.set(data, at);
          m = grown;
        } else if (op < 13) {
          // As the mount does it: write the file out, then resize the stored file.
          const size = rng.chance(0.5) ? rng.int(m.length + 1) : m.length + rng.int(3 * BS);
          cache.writeOut(ino);
          store.head.setattr(ino, { size });
          const next = new Uint8Array(size);
          next.set(m.subarray(0, Math.min(size, m.length)));
          m = next;
        } else if (op < 17) {
          const at = rng.int(m.length + BS);
          const len = rng.int(3 * BS);
          assertBytes(cache.readHead(ino, at, len), m.slice(at, at + len), `step ${step}: read ${name}`);
        } else if (op < 18) {
          cache.writeOutAll();
        } else {
          cache.writeOutAll();
          const rev = store.snapshot().rev;
          const copy = new Map<string, Uint8Array>();
          for (const [k, v] of model) copy.set(k, (k === name ? m : v).slice());
          snaps.push([rev, copy]);
        }
        model.set(name, m);
        const st = cache.stats();
        assert.ok(
          st.cachedBytes + st.dirtyBytes + st.spareBytes <= budget,
          `step ${step}: over budget ${JSON.stringify(st)}`,
        );
        const stored = store.head.inode(ino);
        assert.ok(stored?.type === "file");
        assert.equal(cache.pending(ino)?.size ?? stored.size, m.length, `step ${step}: size of ${name}`);
      }
      assert.ok(snaps.length > 20, `only ${snaps.length} snapshots`);
      // Every revision reads back through the cache exactly as the model held it.
      for (const [rev, files] of snaps) {
        for (const [name, want] of files) {
          assertBytes(cache.readEntry(entryOf(store, rev, name), 0, want.length + 1), want, `rev ${rev} ${name}`);
        }
      }
      const st = cache.stats();
      assert.ok(st.writeouts > 50 && st.hits > 0 && st.misses > 0, JSON.stringify(st));
      checkStoreInvariants(store);
    },
    { blockSize: BS },
  );
}

storeTest("page cache: a block shared with a snapshot is copied before its first write", (ts) => {
  const { store } = ts;
  const cache = new PageCache(store, 64 * BS);
  const ino = newFile(store, "f");
  const original = new Rng(1).bytes(3 * BS);
  cache.write(ino, 0, original);
  cache.writeOutAll();
  const rev = store.snapshot().rev;
  const e = entryOf(store, rev, "f");
  // Both the revision and the head now read the same cached clean blocks.
  assertBytes(cache.readEntry(e, 0, 3 * BS), original, "the revision, from the shared clean blocks");
  assertBytes(cache.readHead(ino, 0, 3 * BS), original, "the head, from the shared clean blocks");
  cache.write(ino, BS + 10, new Uint8Array([1, 2, 3]));
  assertBytes(cache.readEntry(e, 0, 3 * BS), original, "the revision changed with the head");
  const changed = original.slice();
  changed.set([1, 2, 3], BS + 10);
  assertBytes(cache.readHead(ino, 0, 3 * BS), changed, "the head after its first write");
  cache.writeOutAll();
  // Written out, the page becomes a clean block; writing again copies again.
  cache.write(ino, BS + 10, new Uint8Array([9]));
  const again = changed.slice();
  again[BS + 10] = 9;
  assertBytes(cache.readHead(ino, 0, 3 * BS), again, "the head after a write to a written-out page");
  assertBytes(cache.readEntry(e, 0, 3 * BS), original, "the revision after the head was written twice");
  cache.writeOutAll();
  assertBytes(readHead(store, ino, 0, 3 * BS), again, "the store after writeout");
}, { blockSize: BS });

storeTest("page cache: writeout goes in block order and stores nothing for unchanged blocks", (ts) => {
  const { store } = ts;
  const cache = new PageCache(store, 64 * BS);
  const ino = newFile(store, "f");
  const data = new Rng(2).bytes(8 * BS);
  cache.write(ino, 0, data);
  cache.writeOutAll();
  store.snapshot();
  const blocksBefore = store.parts.blocks.written;
  // Rewrite identical bytes, out of order and in pieces: nothing new is stored.
  for (const i of [5, 1, 7, 0, 3]) cache.write(ino, i * BS + 100, data.subarray(i * BS + 100, i * BS + 900));
  assert.equal(cache.stats().dirtyBlocks, 5);
  cache.writeOutAll();
  assert.equal(store.parts.blocks.written, blocksBefore, "an unchanged block was stored again");
  assert.deepEqual([...store.parts.head.files.overlay(ino)], [], "an unchanged block was recorded as changed");
  // Changed blocks reach the head in block order, whatever order they were written in.
  const order: number[] = [];
  const head = store.head;
  const original = head.writeBlocks.bind(head);
  head.writeBlocks = (files) => {
    for (const f of files) order.push(...f.blocks.map(([idx]) => idx));
    return original(files);
  };
  for (const i of [6, 2, 4]) cache.write(ino, i * BS, new Uint8Array([i + 1]));
  cache.writeOutAll();
  assert.deepEqual(order, [2, 4, 6]);
  assert.equal(store.parts.blocks.written, blocksBefore + 3);
}, { blockSize: BS });

storeTest(
  "page cache: a small file's written-out block is cached at its size, and reads zero-fill past it",
  (ts) => {
    const { store } = ts;
    const cache = new PageCache(store, 64 * BS);
    const rng = new Rng(3);
    const contents: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const data = rng.bytes(200 + rng.int(800));
      cache.write(newFile(store, `small${i}`), 0, data);
      contents.push(data);
    }
    cache.writeOutAll();
    const bytes = contents.reduce((n, c) => n + c.length, 0);
    assert.equal(cache.stats().cachedBytes, bytes, "each small file should cost its size, not a block");
    // Another file whose first block holds the same bytes then zeros: the same stored
    // block, read from the short cached copy.
    const g = newFile(store, "g");
    cache.write(g, 0, contents[0]);
    cache.write(g, 2 * BS - 1, new Uint8Array([7]));
    cache.writeOutAll();
    const expected = new Uint8Array(2 * BS);
    expected.set(contents[0]);
    expected[2 * BS - 1] = 7;
    assertBytes(cache.readHead(g, 0, 2 * BS), expected, "g through the cache");
    assertBytes(readHead(store, g, 0, 2 * BS), expected, "g from the store");
  },
  { blockSize: BS },
);

storeTest(
  "page cache: dirty pages stay under 32 MiB with a large budget (LMDB copies a writeout until it commits)",
  (ts) => {
    const { store } = ts;
    const bs = store.blockSize;
    const cache = new PageCache(store, 256 << 20);
    const ino = newFile(store, "big");
    const chunk = new Rng(3).bytes(1 << 20);
    let maxDirty = 0;
    for (let mib = 0; mib < 80; mib++) {
      chunk[0] = mib;
      cache.write(ino, mib << 20, chunk);
      maxDirty = Math.max(maxDirty, cache.stats().dirtyBytes);
    }
    assert.ok(maxDirty <= (32 << 20) + (1 << 20) + bs, `dirty reached ${maxDirty} bytes`);
    assert.ok(cache.stats().writeouts >= 2, `${cache.stats().writeouts} writeouts for 80 MiB`);
    cache.writeOutAll();
    const back = readHead(store, ino, 79 << 20, 1 << 20);
    chunk[0] = 79;
    assertBytes(back, chunk, "the last MiB in the store");
  },
);

storeTest(
  "page cache: a snapshot writes out the dirty files in its own transaction; a failed one leaves them dirty",
  (ts) => {
    const { store } = ts;
    const cache = new PageCache(store, 64 * BS);
    const a = newFile(store, "a"), b = newFile(store, "b");
    const rng = new Rng(21);
    const one = rng.bytes(5 * BS + 17), two = rng.bytes(3 * BS);
    cache.write(a, 0, one);
    cache.write(b, 0, two);
    const records = store.parts.records;
    const write = records.write.bind(records);
    let commits = 0, depth = 0;
    let failCommit = false;
    records.write = <T>(fn: () => T): T => {
      if (depth === 0) commits++;
      depth++;
      try {
        return write(() => {
          const out = fn();
          // As a commit that finds the disk full fails: after the transaction's work.
          if (failCommit && depth === 1) throw new Error("no space (test)");
          return out;
        });
      } finally {
        depth--;
      }
    };
    const first = cache.snapshot("both");
    assert.equal(commits, 1, "the writeout and the snapshot committed apart");
    assert.equal(cache.stats().dirtyFiles, 0);
    assertBytes(cache.readEntry(entryOf(store, first.rev, "a"), 0, one.length), one, "a");
    assertBytes(cache.readEntry(entryOf(store, first.rev, "b"), 0, two.length), two, "b");

    const changed = rng.bytes(2 * BS);
    cache.write(a, BS, changed);
    failCommit = true;
    assert.throws(() => cache.snapshot("fails"), /no space \(test\)/);
    failCommit = false;
    assert.equal(store.latest()?.rev, first.rev, "a failed snapshot made a revision");
    assert.equal(cache.stats().dirtyFiles, 1, "the failed snapshot's writeout left its pages clean");
    const want = one.slice();
    want.set(changed, BS);
    assertBytes(cache.readHead(a, 0, want.length), want, "the head");
    const second = cache.snapshot("again");
    assertBytes(cache.readEntry(entryOf(store, second.rev, "a"), 0, want.length), want, "a again");
    assertBytes(cache.readEntry(entryOf(store, first.rev, "a"), 0, one.length), one, "a at first");
    records.write = write;
    checkStoreInvariants(store);
  },
);
