/**
 * Reverse delta chains: random histories read back exactly, revision by revision,
 * after every snapshot and after drop + gc; chain bounds hold as invariants; the
 * head's blocks stay whole.
 */
import { materialize } from "../store/head/restore.ts";
import assert from "node:assert/strict";
import { type FileEntry, type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { FORMAT_VERSION, Store } from "../store/store.ts";
import { blockChainKey, MAX_DELTA_DEPTH, maxChainBytes, pageChainKey } from "../store/blocks/chains.ts";
import { deltaBaseOf } from "../store/blocks/block_codec.ts";
import { pageDeltaBaseOf } from "../store/tree/pages.ts";
import { checkStoreInvariants, readEntry, readHead, Rng, sha256Hex, storeTest } from "./helpers.ts";

type Files = Map<string, Uint8Array>;

function newFile(store: Store, name: string, data: Uint8Array): Ino {
  const ino = store.head.create(ROOT_INO, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  store.head.write(ino, 0, data);
  return ino;
}

function readRev(store: Store, rev: RevNumber, name: string): Uint8Array {
  const e = store.revisionTree(rev).entry(name) as FileEntry;
  assert.equal(e.type, "file");
  return readEntry(store, e, 0, e.size + 1);
}

/** Every block record of every live revision: chain within the bounds, content as the model. */
function checkAll(store: Store, history: Map<RevNumber, Files>, what: string): void {
  for (const [rev, files] of history) {
    for (const [name, want] of files) {
      assert.deepEqual(readRev(store, rev, name), want, `${what}: revision ${rev} ${name}`);
    }
  }
  for (const [k] of store.parts.records.range("blocks")) {
    const chain = store.parts.blocks.chains.below(k as never);
    assert.ok(chain, `${what}: a block's chain is broken`);
    assert.ok(chain.hops <= MAX_DELTA_DEPTH, `${what}: chain of ${chain.hops} deltas`);
    assert.ok(chain.bytes <= maxChainBytes(store.blockSize), `${what}: chain of ${chain.bytes} bytes`);
  }
}

/** Inserts bytes in the middle: everything after shifts across block boundaries. */
function insertAt(data: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + bytes.length);
  out.set(data.subarray(0, at));
  out.set(bytes, at);
  out.set(data.subarray(at), at + bytes.length);
  return out;
}

storeTest("deltas: a random history reads back after every snapshot and after drop + gc", (ts) => {
  const { store } = ts;
  const rng = new Rng(303);
  const files: Files = new Map([
    ["notes.txt", rng.bytes(400_000, "text")],
    ["data.bin", rng.bytes(1 << 20)],
    ["log.txt", rng.bytes(10_000, "text")],
  ]);
  // Files by role; `names` is what each is called now (renames change it).
  const names = new Map([...files.keys()].map((r) => [r, r]));
  const inos = new Map<string, Ino>();
  for (const [role, data] of files) inos.set(role, newFile(store, role, data));
  const byName = () => new Map([...files].map(([role, d]) => [names.get(role)!, d]));
  const history = new Map<RevNumber, Files>();
  history.set(store.snapshot().rev, byName());
  for (let v = 0; v < 40; v++) {
    const op = rng.int(6);
    if (op === 0) {
      // A small text edit in place.
      const d = files.get("notes.txt")!.slice();
      d.set(rng.bytes(1 + rng.int(300), "text"), rng.int(d.length - 300));
      files.set("notes.txt", d);
    } else if (op === 1) {
      // An insertion: the rest of the file shifts; neighbours make good bases.
      const d = insertAt(files.get("notes.txt")!, rng.int(350_000), rng.bytes(1 + rng.int(2000), "text"));
      files.set("notes.txt", d);
    } else if (op === 2 || op === 3) {
      // Sparse binary rewrites at 4 KiB-aligned offsets.
      const d = files.get("data.bin")!.slice();
      for (let k = 0; k < 4; k++) d.set(rng.bytes(4096), rng.int(d.length / 4096) * 4096);
      files.set("data.bin", d);
    } else if (op === 4) {
      files.set("log.txt", insertAt(files.get("log.txt")!, files.get("log.txt")!.length, rng.bytes(3000, "text")));
    } else {
      // Rename: the inode keeps its history.
      const role = rng.pick([...files.keys()]);
      const [stem, ext] = role.split(".");
      const to = `${stem}_${v}.${ext}`;
      store.head.rename(ROOT_INO, names.get(role)!, ROOT_INO, to);
      names.set(role, to);
    }
    for (const [role, data] of files) {
      const ino = inos.get(role)!;
      store.head.write(ino, 0, data);
      store.head.setattr(ino, { size: data.length });
    }
    history.set(store.snapshot().rev, byName());
    checkAll(store, history, `after snapshot ${v}`);
  }
  const st = store.stats();
  assert.ok(st.deltaRecords > 40, `only ${st.deltaRecords} delta records`);
  assert.ok(st.maxChainDepth >= 2 && st.maxChainDepth <= MAX_DELTA_DEPTH, `chain depth ${st.maxChainDepth}`);
  // History costs a fraction of what it would whole.
  assert.ok(st.storedBytes < st.logicalBytes / 8, `stored ${st.storedBytes} of ${st.logicalBytes} logical`);
  checkStoreInvariants(store);

  // Drop every third revision, the newest kept: deltas whose base goes away are re-encoded on the next kept version.
  const revs = [...history.keys()];
  for (const rev of revs.filter((_, i) => i % 3 === 1 && i < revs.length - 1)) {
    store.drop(rev);
    history.delete(rev);
  }
  const storedBefore = store.stats().storedBytes;
  const gc = store.gc();
  assert.ok(gc.blocksRemoved > 0, "gc freed nothing");
  assert.ok(gc.storedWhole > 0, "no delta lost its base");
  // Re-encoded on the next kept version, not whole: dropping history never costs space.
  assert.ok(store.stats().storedBytes < storedBefore, `${storedBefore} -> ${store.stats().storedBytes}`);
  checkAll(store, history, "after drop + gc");
});

storeTest(
  "deltas: a block rewritten many times keeps its chain within the bounds; the head's version is whole",
  (ts) => {
    const { store } = ts;
    const rng = new Rng(11);
    let data = rng.bytes(64 * 1024);
    const ino = newFile(store, "f.bin", data);
    const history = new Map<RevNumber, Files>([[store.snapshot().rev, new Map([["f.bin", data]])]]);
    for (let v = 0; v < 3 * MAX_DELTA_DEPTH; v++) {
      data = data.slice();
      data.set(rng.bytes(4096), rng.int(16) * 4096);
      store.head.write(ino, 0, data);
      history.set(store.snapshot().rev, new Map([["f.bin", data]]));
    }
    const st = store.stats();
    assert.equal(st.maxChainDepth, MAX_DELTA_DEPTH, "the chain should grow to the bound and no further");
    checkAll(store, history, "after the history");
    // The head's block is stored whole: no chain to walk.
    const head = store.head.inode(ino)!;
    assert.ok(head.type === "file");
    const h = store.head.blockHash(head, 0)!;
    assert.equal(store.parts.blocks.chains.below(h)!.hops, 0);
    // Restoring an old version makes it the head's again: stored whole, no chain.
    const oldRev = [...history.keys()][1];
    const old = store.revisionTree(oldRev).entry("f.bin");
    const restored = store.parts.records.write(() => materialize(store.parts, ROOT_INO, "old.bin", old));
    assert.ok(restored.type === "file");
    const rh = store.head.blockHash(restored, 0)!;
    assert.equal(store.parts.blocks.chains.below(rh)!.hops, 0, "a restored block is still a delta");
    assert.deepEqual(readHead(store, restored.ino, 0, 1 << 20), history.get(oldRev)!.get("f.bin"));
    // Drop the newest revision and change the head: the base of the revision
    // before goes away, and that revision's delta is re-encoded.
    const revs = [...history.keys()];
    store.head.write(ino, 0, rng.bytes(64 * 1024));
    store.snapshot();
    store.drop(revs.at(-1)!);
    history.delete(revs.at(-1)!);
    const gc = store.gc();
    assert.ok(gc.storedWhole >= 1, JSON.stringify(gc));
    checkAll(store, history, "after dropping the newest");
    checkStoreInvariants(store);
  },
);

storeTest("deltas: a file saved the usual way (truncated to 0, then written) still gets deltas", (ts) => {
  const { store } = ts;
  const rng = new Rng(12);
  let text = rng.bytes(200_000, "text");
  const ino = newFile(store, "notes.txt", text);
  const first = store.snapshot().rev;
  const history = new Map<RevNumber, Files>([[first, new Map([["notes.txt", text]])]]);
  for (let v = 0; v < 5; v++) {
    text = text.slice();
    text.set(new TextEncoder().encode(`edit ${v}`), rng.int(text.length - 10));
    // What `open(O_TRUNC)` then `write` does through the mount.
    store.head.setattr(ino, { size: 0 });
    store.head.write(ino, 0, text);
    history.set(store.snapshot().rev, new Map([["notes.txt", text]]));
  }
  const deltas = store.stats().deltaRecords;
  assert.ok(deltas >= 5, `only ${deltas} delta records after 5 saved edits`);
  checkAll(store, history, "after the edits");
});

storeTest(
  "deltas: a format 5 store's chain entries (full-hash keys) are rekeyed when it is opened for writing",
  async (ts) => {
    const rng = new Rng(55);
    let text = rng.bytes(150_000, "text");
    const ino = newFile(ts.store, "notes.txt", text);
    ts.store.snapshot();
    for (let v = 0; v < 4; v++) {
      text = insertAt(text, rng.int(text.length), rng.bytes(100, "text"));
      ts.store.head.write(ino, 0, text);
      ts.store.snapshot();
    }
    const records = ts.store.parts.records;
    const short = new Map([...records.range("chains")].map(([k, v]) => [k.slice(), v.slice()]));
    assert.ok(short.size >= 2, `only ${short.size} chain entries`);
    // Rewrite the table as format 5 had it: blocks by their hash, pages by "p" + hash.
    const long: [Uint8Array, Uint8Array][] = [];
    const keyed = (prefix: number[], hash: Uint8Array) => new Uint8Array([...prefix, ...hash]);
    for (const [k] of records.range("blocks")) long.push([k.slice(), keyed([], k)]);
    for (const [k] of records.range("pages")) long.push([k.slice(), keyed([0x70], k)]);
    const format = new TextEncoder().encode("format");
    records.write(() => {
      for (const [k] of short) records.del("chains", k);
      for (const [hash, key] of long) {
        const shortKey = key[0] === 0x70 && key.length === 33 ? key.subarray(0, 12) : hash.subarray(0, 12);
        const v = [...short].find(([s]) => sha256Hex(s) === sha256Hex(shortKey))?.[1];
        if (v) records.put("chains", key, v);
      }
      records.put("meta", format, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 5]));
    });
    assert.ok([...records.keys("chains")].every((k) => k.length > 12), "the table was rewritten the old way");
    await ts.store.close();

    const again = await Store.open(`${ts.dir}/store`, { write: true });
    try {
      const now = new Map([...again.parts.records.range("chains")].map(([k, v]) => [sha256Hex(k), sha256Hex(v)]));
      assert.deepEqual(now, new Map([...short].map(([k, v]) => [sha256Hex(k), sha256Hex(v)])));
      assert.equal(again.parts.records.get("meta", format)![7], FORMAT_VERSION, "relabelled this format");
    } finally {
      await again.close();
    }
  },
);

/** Chain keys of the delta records, blocks and pages, which format 9 keeps no entries for. */
function deltaChainKeys(store: Store): string[] {
  const keys: string[] = [];
  for (const [k, v] of store.parts.records.range("blocks")) {
    if (deltaBaseOf(v)) keys.push(sha256Hex(blockChainKey(k)));
  }
  for (const [k, v] of store.parts.records.range("pages")) {
    if (pageDeltaBaseOf(v)) keys.push(sha256Hex(pageChainKey(k)));
  }
  return keys;
}

storeTest(
  "deltas: versions written again while history holds them as deltas keep every chain within the bounds",
  (ts) => {
    const { store } = ts;
    const rng = new Rng(909);
    // A few versions of one 64 KiB block, each written again now and then (an undo, a
    // checkout of an older branch): a delta stored whole again must bound what is above it.
    const versions: Uint8Array[] = [rng.bytes(64 * 1024, "text")];
    const ino = newFile(store, "f.txt", versions[0]);
    const history = new Map<RevNumber, Files>([[store.snapshot().rev, new Map([["f.txt", versions[0]]])]]);
    for (let v = 0; v < 4 * MAX_DELTA_DEPTH; v++) {
      let data: Uint8Array;
      if (versions.length > 3 && rng.int(3) === 0) data = versions[rng.int(versions.length)];
      else {
        data = versions.at(-1)!.slice();
        data.set(rng.bytes(300, "text"), rng.int(data.length - 300));
        versions.push(data);
      }
      store.head.write(ino, 0, data);
      history.set(store.snapshot().rev, new Map([["f.txt", data]]));
      if (v % 8 === 7) {
        checkStoreInvariants(store);
        assert.deepEqual(
          deltaChainKeys(store).filter((k) => [...store.parts.records.keys("chains")].some((c) => sha256Hex(c) === k)),
          [],
          "no entry for a delta",
        );
      }
    }
    assert.ok(store.stats().deltaRecords >= 20, `${store.stats().deltaRecords} deltas`);
    checkAll(store, history, "after the history");
  },
);

storeTest("deltas: gc deletes the chain entries a format 8 store kept for deltas", (ts) => {
  const { store } = ts;
  const rng = new Rng(808);
  let text = rng.bytes(100_000, "text");
  const ino = newFile(store, "notes.txt", text);
  const history = new Map<RevNumber, Files>([[store.snapshot().rev, new Map([["notes.txt", text]])]]);
  for (let v = 0; v < 6; v++) {
    text = insertAt(text, rng.int(text.length), rng.bytes(200, "text"));
    store.head.write(ino, 0, text);
    history.set(store.snapshot().rev, new Map([["notes.txt", text]]));
  }
  // Format 8 kept an entry for every record with something above it, deltas too.
  const records = store.parts.records;
  const stale: Uint8Array[] = [];
  for (const [k, v] of records.range("blocks")) if (deltaBaseOf(v)) stale.push(blockChainKey(k));
  assert.ok(stale.length >= 4, `only ${stale.length} deltas`);
  records.write(() => {
    for (const k of stale) records.put("chains", k, new Uint8Array([1, 100]));
  });
  const before = records.count("chains");
  const gc = store.gc();
  assert.equal(gc.chainsPruned, stale.length);
  assert.equal(records.count("chains"), before - stale.length);
  checkAll(store, history, "after gc");
});
