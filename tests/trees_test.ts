/**
 * The persistent structures alone: block maps and directory tries against plain
 * models, canonical shape (same content, same root page, whatever the edit order),
 * and diff equal to the model's difference.
 */
import assert from "node:assert/strict";
import { BlockMaps, FANOUT } from "../store/tree/block_map.ts";
import { DirTrees } from "../store/tree/dir_tree.ts";
import type { BlockHash, Entry, MapRoot, PageHash } from "../mod.ts";
import { oneBlockOf } from "../store/tree/map_root.ts";
import { Rng, storeTest } from "./helpers.ts";
import { toHex } from "../store/blocks/hash.ts";

function fakeHash(n: number): BlockHash {
  const h = new Uint8Array(32);
  new DataView(h.buffer).setUint32(0, n + 1);
  return h as BlockHash;
}

function fileEntry(size: number): Entry {
  return { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: BigInt(size), size, content: null };
}

storeTest("block map: random edits and truncations match an array model; shape is canonical", (ts) => {
  const maps = new BlockMaps(ts.store.parts.pages);
  const rng = new Rng(7);
  const records = ts.store.parts.records;
  let root: MapRoot | null = null;
  let model: (BlockHash | null)[] = [];
  let oneBlockRoots = 0;
  records.write(() => {
    for (let step = 0; step < 300; step++) {
      const edits = new Map<number, BlockHash | null>();
      let count = model.length;
      let keep = count;
      if (rng.chance(0.2)) keep = count = rng.int(count + 1);
      if (rng.chance(0.3)) count += rng.int(3 * FANOUT);
      // Now and then a file of one block, which is its own root (no map page).
      if (rng.chance(0.1)) keep = count = Math.min(count, 1);
      for (let k = rng.int(20); k > 0 && count > 0; k--) {
        edits.set(rng.int(count), rng.chance(0.1) ? null : fakeHash(rng.int(1_000_000)));
      }
      root = maps.update(root, keep, edits, count);
      model = model.slice(0, keep);
      while (model.length < count) model.push(null);
      for (const [i, h] of edits) model[i] = h;
      // One leaf (at most FANOUT blocks) whose only block is block 0.
      const oneBlock = model.length <= FANOUT && model[0] != null && model.every((h, i) => i === 0 || h === null);
      assert.equal(root !== null && oneBlockOf(root) !== undefined, oneBlock, `step ${step}: one-block root`);
      if (oneBlock) {
        oneBlockRoots++;
        assert.deepEqual([...maps.pagesOf(root)], [], "a one-block root has no page");
        assert.equal(toHex(maps.lookup(root, 0)!), toHex(model[0]!));
        assert.equal(maps.lookup(root, 1), null);
      }
      if (step % 25 === 0 || step === 299) {
        const present = new Map([...maps.present(root)].map(([i, h]) => [i, toHex(h)]));
        model.forEach((h, i) => assert.equal(present.get(i) ?? null, h ? toHex(h) : null, `block ${i}`));
        for (let k = 0; k < 50 && model.length; k++) {
          const i = rng.int(model.length);
          const h = maps.lookup(root, i);
          assert.equal(h && toHex(h), model[i] ? toHex(model[i]!) : null);
        }
        // Canonical: building the same map in one go gives the same root page.
        const fresh = maps.update(null, 0, new Map(model.map((h, i) => [i, h])), model.length);
        assert.equal(fresh && toHex(fresh), root && toHex(root), `step ${step}: shape depends on history`);
      }
    }
  });
  assert.ok(oneBlockRoots >= 10, `only ${oneBlockRoots} one-block roots: the walk should reach some`);
});

storeTest("directory trie: random edits match a Map model; shape is canonical; diff is exact", (ts) => {
  const dirs = new DirTrees(ts.store.parts.pages);
  const rng = new Rng(11);
  let root: PageHash | null = null;
  const model = new Map<string, Entry>();
  ts.store.parts.records.write(() => {
    for (let step = 0; step < 60; step++) {
      const prevRoot = root;
      const prev = new Map(model);
      const edits = new Map<string, Entry | null>();
      const n = rng.chance(0.2) ? 500 + rng.int(1500) : 1 + rng.int(30);
      const names = [...model.keys()];
      for (let k = 0; k < n; k++) {
        if (names.length && rng.chance(0.4)) {
          edits.set(rng.pick(names), rng.chance(0.5) ? null : fileEntry(rng.int(1e6)));
        } else edits.set(`name-${rng.int(100_000)}`, fileEntry(rng.int(1e6)));
      }
      root = dirs.update(root, edits).root;
      for (const [name, e] of edits) e === null ? model.delete(name) : model.set(name, e);
      const listed = dirs.list(root);
      assert.equal(listed.length, model.size);
      assert.equal(dirs.count(root), model.size);
      for (const [name, e] of listed) assert.deepEqual(e, model.get(name));
      for (const name of [...model.keys()].slice(0, 20)) assert.deepEqual(dirs.lookup(root, name), model.get(name));
      assert.equal(dirs.lookup(root, "no-such-name"), null);
      const fresh = dirs.build([...model]);
      assert.equal(fresh && toHex(fresh), root && toHex(root), `step ${step}: shape depends on history`);
      const want = [...new Set([...prev.keys(), ...model.keys()])]
        .filter((k) => JSON.stringify(prev.get(k) ?? null, big) !== JSON.stringify(model.get(k) ?? null, big))
        .sort();
      assert.deepEqual(dirs.diff(prevRoot, root).map((c) => c.name), want);
    }
    assert.ok(model.size > 2000, `the trie only reached ${model.size} names`);
  });
});

function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}
