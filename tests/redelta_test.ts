/**
 * optimize re-deltas history stored whole: a store whose snapshots kept every version
 * of a file whole (as snapshots did before they found a file's previous version by
 * path) shrinks, reads exactly as before, and keeps the head whole.
 */
import assert from "node:assert/strict";
import { ROOT_INO } from "../mod.ts";
import { isDelta } from "../store/blocks/block_codec.ts";
import { everyRevision, Rng, storeTest } from "./helpers.ts";

storeTest("optimize: history kept whole becomes deltas on newer versions; every revision reads the same", (ts) => {
  const { store } = ts;
  // As snapshots wrote history before they found a file's previous version by path, and
  // before tree pages had deltas.
  store.parts.blocks.deltasEnabled = false;
  store.parts.pages.deltasEnabled = false;
  const rng = new Rng(8);
  const node = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };
  const data = new Map<string, Uint8Array>();
  for (let i = 0; i < 4; i++) {
    const name = `f${i}`;
    data.set(name, rng.bytes(200_000 + rng.int(300_000), i % 2 ? "text" : "binary"));
    store.head.write(store.head.create(ROOT_INO, name, { type: "file", ...node }).ino, 0, data.get(name)!);
  }
  store.snapshot();
  // Every save makes a new inode, as editors and checkouts do.
  for (let r = 0; r < 20; r++) {
    const name = `f${rng.int(4)}`;
    const next = data.get(name)!.slice();
    for (let k = 0; k < 3; k++) next.set(rng.bytes(2000, "text"), rng.int(next.length - 2000));
    data.set(name, next);
    store.head.remove(ROOT_INO, name, false);
    store.head.write(store.head.create(ROOT_INO, name, { type: "file", ...node }).ino, 0, next);
    store.snapshot();
  }
  const before = everyRevision(store);
  const { storedBytes: stored, pageBytes } = store.stats();
  assert.equal(store.stats().deltaRecords, 0);

  store.parts.blocks.deltasEnabled = true;
  store.parts.pages.deltasEnabled = true;
  const r = store.optimize();
  assert.ok(r.redelta.deltas > 0, "no block of history became a delta");
  const after = store.stats().storedBytes;
  assert.ok(after < stored / 2, `stored bytes ${stored} -> ${after}`);
  const pagesAfter = store.stats().pageBytes;
  assert.ok(pagesAfter < pageBytes * 0.8, `page bytes ${pageBytes} -> ${pagesAfter}`);
  assert.deepEqual(everyRevision(store), before);
  // The head reads whole records.
  for (const i of store.parts.head.inodes.all()) {
    if (i.type !== "file") continue;
    for (const [idx, h] of store.parts.head.files.presentBlocks(i)) {
      assert.ok(!isDelta(store.parts.records.get("blocks", h)!), `${i.name} block ${idx} of the head is a delta`);
    }
  }
  assert.equal(store.optimize().redelta.deltas, 0, "a second run found more to do");
});
