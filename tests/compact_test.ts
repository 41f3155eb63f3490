/**
 * Compaction: the store's file rewritten densely reads exactly as before, is smaller,
 * keeps working, and is never replaced under another process that has it open.
 */
import assert from "node:assert/strict";
import { type BlockHash, compactStore, fileChunks, hashKey, ROOT_INO } from "../mod.ts";
import { COMPACTING_DIR } from "../store/records/lmdb_compact.ts";
import { Store } from "../store/store.ts";
import {
  concatBytes,
  dropPages,
  everyRevision,
  residentWhen,
  Rng,
  runCli,
  storeTest,
  tempDir,
  type TestStore,
} from "./helpers.ts";

/** 40 revisions of 8 files rewritten in place and by replacement: deltas, freed pages. */
function churn(ts: TestStore): void {
  const { store } = ts;
  const rng = new Rng(4);
  const node = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };
  const data = new Map<string, Uint8Array>();
  for (let i = 0; i < 8; i++) {
    const name = `f${i}`;
    data.set(name, rng.bytes(100_000 + rng.int(200_000), i % 2 ? "text" : "binary"));
    store.head.write(store.head.create(ROOT_INO, name, { type: "file", ...node }).ino, 0, data.get(name)!);
  }
  store.snapshot();
  for (let r = 0; r < 40; r++) {
    const name = `f${rng.int(8)}`;
    const next = data.get(name)!.slice();
    next.set(rng.bytes(3000, "text"), rng.int(next.length - 3000));
    data.set(name, next);
    if (r % 2 === 0) store.head.write(store.head.lookup(ROOT_INO, name)!, 0, next);
    else {
      store.head.remove(ROOT_INO, name, false);
      store.head.write(store.head.create(ROOT_INO, name, { type: "file", ...node }).ino, 0, next);
    }
    store.snapshot();
  }
}

storeTest("compact: the file shrinks, every revision reads the same, and the store keeps working", async (ts) => {
  churn(ts);
  const dir = `${ts.dir}/store`;
  const before = everyRevision(ts.store);
  const { storedBytes: records, freeBytes } = ts.store.stats();
  assert.ok(freeBytes > 0, "rewriting records left no free pages to compact");
  await ts.store.close();
  const c = await compactStore(dir);
  assert.ok(c.compacted, c.reason);
  assert.ok(c.bytesAfter < c.bytesBefore, `${c.bytesBefore} -> ${c.bytesAfter}`);
  assert.ok(c.bytesAfter < 1.5 * records, `${c.bytesAfter} bytes of file for ${records} of records`);
  assert.ok(!Deno.statSync(dir).isFile && ![...Deno.readDirSync(dir)].some((e) => e.name === COMPACTING_DIR));
  const again = await Store.open(dir, { write: true });
  try {
    assert.deepEqual(everyRevision(again), before);
    assert.deepEqual(again.verify().problems, []);
    const { freeBytes: left, fileBytes } = again.stats();
    assert.ok(left < fileBytes / 20, `a compacted file keeps ${left} bytes of free pages of ${fileBytes}`);
    // Writes and snapshots go on in the compacted file.
    again.head.write(again.head.lookup(ROOT_INO, "f0")!, 0, new TextEncoder().encode("after"));
    const rev = again.snapshot("after compaction");
    assert.equal(
      new TextDecoder().decode(concatBytes(fileChunks(again.view(rev.rev), "f0", again.blockSize))).slice(0, 5),
      "after",
    );
  } finally {
    await again.close();
  }
});

storeTest("compact: refused while another process has the store open; the file is not touched", async (ts) => {
  churn(ts);
  const dir = `${ts.dir}/store`;
  await ts.store.close();
  const reader = await Store.open(dir);
  try {
    const size = Deno.statSync(`${dir}/data.mdb`).size;
    const c = await compactStore(dir);
    assert.equal(c.compacted, false);
    assert.match(c.reason ?? "", /another process has the store open/);
    assert.equal(Deno.statSync(`${dir}/data.mdb`).size, size);
    // The reader still reads, and a writer can still open it.
    assert.ok(reader.revisions().length > 40);
    const writer = await Store.open(dir, { write: true });
    await writer.close();
  } finally {
    await reader.close();
  }
  assert.ok((await compactStore(dir)).compacted, "alone with the store again, it compacts");
});

storeTest(
  "compact: what an interrupted compaction left is removed by the next writer; the store is as before",
  async (ts) => {
    churn(ts);
    const dir = `${ts.dir}/store`;
    const before = everyRevision(ts.store);
    await ts.store.close();
    Deno.mkdirSync(`${dir}/${COMPACTING_DIR}`);
    Deno.writeFileSync(`${dir}/${COMPACTING_DIR}/data.mdb`, new Uint8Array(8192));
    const reader = await Store.open(dir);
    assert.deepEqual(everyRevision(reader), before);
    await reader.close();
    const writer = await Store.open(dir, { write: true });
    await writer.close();
    assert.ok(![...Deno.readDirSync(dir)].some((e) => e.name === COMPACTING_DIR));
  },
);

storeTest(
  "compact: a packed record read from a store reading ahead itself has its pack asked for before it is touched",
  async (ts) => {
    const rng = new Rng(23);
    const written: [BlockHash, Uint8Array][] = [];
    ts.store.parts.records.write(() => {
      for (let i = 0; i < 200; i++) {
        const data = rng.bytes(9_000 + rng.int(6_000));
        written.push([ts.store.parts.blocks.put(data)!, data]);
      }
    });
    const dir = `${ts.dir}/store`;
    await ts.store.close();
    assert.ok((await compactStore(dir)).compacted);
    // Where one record's bytes are in the file (stored raw: they are random), before the
    // file's pages are dropped.
    const [hash, data] = written[100];
    const file = `${dir}/data.mdb`;
    const bytes = Deno.readFileSync(file);
    let at = -1;
    for (let i = bytes.indexOf(data[0]); i >= 0; i = bytes.indexOf(data[0], i + 1)) {
      if (data.subarray(0, 64).every((b, j) => bytes[i + j] === b)) {
        at = i;
        break;
      }
    }
    assert.ok(at >= 0, "the record is stored as written");
    const pages: number[] = [];
    for (let p = Math.floor(at / 4096); p * 4096 < at + data.length; p++) pages.push(p);
    dropPages(file);
    const again = await Store.open(dir, { readAhead: "own" });
    try {
      const record = again.parts.records.peek("blocks", hash)!;
      assert.ok(record.length > data.length, "a view of the record, not touched yet");
      const resident = await residentWhen(file, (r) => pages.every((p) => r[p]));
      assert.deepEqual(pages.map((p) => resident[p]), pages.map(() => true), `pages ${pages} of the record`);
      assert.deepEqual(again.readBlock(hash), data);
    } finally {
      await again.close();
    }
  },
);

storeTest(
  "compact: records of 2-16 KB are packed, so the file stays within 1.15x of them, and read the same",
  async (ts) => {
    // LMDB gives each value over about 2 KB overflow pages of its own, rounded up to 4 KiB:
    // unpacked, these records would take 1.5x their bytes.
    const rng = new Rng(21);
    const blocks = ts.store.parts.blocks;
    const written = new Map<string, [BlockHash, Uint8Array]>();
    ts.store.parts.records.write(() => {
      for (let i = 0; i < 1500; i++) {
        const data = rng.bytes(2_000 + rng.int(14_000));
        data[data.length - 1] |= 1; // no trailing zeros to trim
        const h = blocks.put(data)!;
        written.set(hashKey(h), [h, data]);
      }
    });
    const dir = `${ts.dir}/store`;
    await ts.store.close();
    assert.ok((await compactStore(dir)).compacted);
    const again = await Store.open(dir);
    try {
      const { storedBytes, fileBytes } = again.stats();
      assert.ok(fileBytes <= 1.15 * storedBytes, `${fileBytes} bytes of file for ${storedBytes} of records`);
      for (const [h, data] of written.values()) assert.deepEqual(again.readBlock(h), data);
    } finally {
      await again.close();
    }
  },
);

Deno.test("compact: a history of small source files, optimized and compacted, stays within 1.2x of its keys and values", async () => {
  // Real small records: this repository's own sources (about 170 files, 0.9 MB), a few
  // edited per import over 100 imports: history deltas, small pages, the head's tables.
  // The store comes to about 0.7 MB, where LMDB's fixed cost (meta pages, a root and a
  // last part-full leaf per table) is still 5%: it takes 1.16x here (1.25x before format
  // 9 and dense compaction), and 1.12x on the benchmark's eslint history (1 MB).
  const dir = await tempDir("revfs-compact-small-");
  try {
    const src = `${dir}/src`;
    const store = `${dir}/store`;
    const repo = new URL("../", import.meta.url).pathname;
    const files: string[] = [];
    const walk = (rel: string) => {
      for (const e of Deno.readDirSync(repo + rel)) {
        if (e.isDirectory) walk(`${rel}${e.name}/`);
        else if (e.isFile && e.name.endsWith(".ts")) files.push(rel + e.name);
      }
    };
    for (const top of ["store/", "fs/", "cli/", "bench/", "tests/"]) walk(top);
    const sources = repo;
    const text = new Map(files.map((f) => [f, Deno.readTextFileSync(sources + f)]));
    const write = () => {
      for (const [f, t] of text) {
        Deno.mkdirSync(`${src}/${f.slice(0, f.lastIndexOf("/") + 1)}`, { recursive: true });
        Deno.writeTextFileSync(`${src}/${f}`, t);
      }
    };
    const rng = new Rng(77);
    const s = await Store.init(store);
    try {
      for (let v = 0; v < 100; v++) {
        for (let k = 0; k < 1 + rng.int(8); k++) {
          const f = files[rng.int(files.length)];
          const t = text.get(f)!;
          const at = t.indexOf("\n", rng.int(t.length));
          text.set(f, `${t.slice(0, at + 1)}// edit ${v}.${k}\n${t.slice(at + 1)}`);
        }
        write();
        await s.importDir(src, `version ${v}`);
      }
    } finally {
      await s.close();
    }
    assert.equal((await runCli("optimize", store)).code, 0);
    const gc = await runCli("gc", store);
    assert.match(gc.stderr, /compacted/);
    const st = JSON.parse((await runCli("stats", store, "--json")).stdout);
    const records = st.storedBytes + st.tableBytes;
    const file = Deno.statSync(`${store}/data.mdb`).size;
    assert.ok(st.deltaRecords >= 20, `${st.deltaRecords} deltas`);
    assert.ok(file <= 1.2 * records, `a ${file}-byte file for ${records} bytes of keys and values`);
    console.log(`  file ${file} bytes for ${records} of keys and values: ${(file / records).toFixed(3)}x`);
    assert.equal((await runCli("verify", store)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
