/**
 * sys/lmdb: the FFI binding to revfs's own LMDB build. Ranges against a sorted model,
 * views and copies, a range that outlives a commit, one environment per file per
 * process (a worker thread joins the main thread's), and files written by lmdb-js
 * (every store before this binding) read the same.
 */
import assert from "node:assert/strict";
import * as lmdb from "../sys/lmdb/mod.ts";
import { LmdbRecordStore } from "../store/records/lmdb_backend.ts";
import { dropPages, openAsLmdbJs, residentPages, residentWhen, Rng, tempDir } from "./helpers.ts";

const MAP = 2 ** 30;

function withEnv(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = await tempDir("revfs-lmdb-");
    try {
      await fn(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test(
  "lmdb: gets, puts, deletes and ranges agree with a sorted model, for small and overflow values",
  withEnv((dir) => {
    const env = lmdb.Env.open(dir, { readOnly: false, tables: ["t"], mapBytes: MAP });
    const dbi = env.dbi("t")!;
    const rng = new Rng(11);
    const model = new Map<string, Uint8Array>();
    const keyOf = (k: string) => Uint8Array.from(k.match(/../g)!.map((h) => parseInt(h, 16)));
    for (let round = 0; round < 20; round++) {
      const txn = env.begin(false);
      for (let i = 0; i < 50; i++) {
        const key = rng.bytes(1 + rng.int(12));
        const k = hex(key);
        if (model.has(k) && rng.int(3) === 0) {
          assert.equal(lmdb.del(txn, dbi, key), true);
          model.delete(k);
        } else {
          // Small (copied out by the call that finds them), around the sizes where that
          // stops (512 bytes alone, 1,024 with the key in a range), and overflow pages.
          const size = [rng.int(300), 500 + rng.int(540), 5_000 + rng.int(70_000)][rng.int(3)];
          const value = rng.bytes(size);
          lmdb.put(txn, dbi, key, value);
          model.set(k, value);
        }
      }
      assert.equal(
        lmdb.del(
          txn,
          dbi,
          new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ),
        false,
      );
      lmdb.commit(txn);
      const read = env.begin(true);
      const sorted = [...model.keys()].sort();
      assert.equal(lmdb.count(read, dbi), sorted.length);
      for (const k of sorted) {
        assert.deepEqual(lmdb.get(read, dbi, keyOf(k)), model.get(k), `get ${k}`);
        assert.deepEqual(env.view(read, dbi, keyOf(k)), model.get(k), `view of ${k}`);
      }
      // Ranges from random bounds, bounds that are keys, and none.
      const bounds = [undefined, rng.bytes(2), keyOf(sorted[rng.int(sorted.length)]), rng.bytes(1)];
      for (const start of bounds) {
        for (const end of bounds) {
          const want = sorted.filter((k) => (!start || k >= hex(start)) && (!end || k < hex(end)));
          const got = [...lmdb.range(read, dbi, start, end)];
          assert.deepEqual(got.map(([k]) => hex(k)), want, `range ${start && hex(start)}..${end && hex(end)}`);
          for (const [k, v] of got) assert.deepEqual(v, model.get(hex(k)));
          const keys = [...lmdb.range(read, dbi, start, end, true)].map(([k]) => hex(k));
          assert.deepEqual(keys, want);
        }
      }
      lmdb.abort(read);
    }
    env.close();
  }),
);

Deno.test(
  "lmdb: a copy stays as it was after the value changes; a range keeps its snapshot across a commit",
  withEnv(async (dir) => {
    const r = LmdbRecordStore.open(dir, { create: true });
    const key = (i: number) => new Uint8Array([i]);
    r.write(() => {
      for (let i = 0; i < 10; i++) r.put("meta", key(i), new Uint8Array(20_000).fill(i));
    });
    const copy = r.get("meta", key(3))!;
    const seen: number[] = [];
    for (const [k, v] of r.range("meta")) {
      seen.push(k[0]);
      assert.equal(v[0], k[0], "a value changed under the range");
      // Every value is rewritten and a new key added while the range is open.
      if (k[0] === 2) {
        r.write(() => {
          for (let i = 0; i < 11; i++) r.put("meta", key(i), new Uint8Array(20_000).fill(100 + i));
        });
      }
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "the range saw the commit");
    assert.deepEqual(copy, new Uint8Array(20_000).fill(3));
    assert.equal(r.get("meta", key(3))![0], 103, "a read after the commit sees it");
    assert.equal(r.count("meta"), 11);
    await r.close();
  }),
);

Deno.test(
  "lmdb: a worker thread joins the main thread's environment, which stays open until its last user closes it",
  withEnv(async (dir) => {
    const env = lmdb.Env.open(dir, { readOnly: false, tables: ["t"], mapBytes: MAP });
    const txn = env.begin(false);
    lmdb.put(txn, env.dbi("t")!, new Uint8Array([1]), new Uint8Array(100_000).fill(7));
    lmdb.commit(txn);
    const worker = new Worker(new URL("./lmdb_worker.ts", import.meta.url).href, { type: "module" });
    const answer = (msg: unknown) =>
      new Promise<{ ok: boolean; sum?: number; error?: string }>((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.postMessage(msg);
      });
    try {
      assert.deepEqual(await answer({ op: "open", dir, mapBytes: MAP }), { ok: true });
      // The main thread lets go first: the worker's reads go on.
      env.close();
      assert.deepEqual(await answer({ op: "sum" }), { ok: true, sum: 700_000 });
      assert.deepEqual(await answer({ op: "close" }), { ok: true });
    } finally {
      worker.terminate();
    }
    // Closed by its last user: opening again maps the file anew, read-only here.
    const again = lmdb.Env.open(dir, { readOnly: true, tables: ["t", "missing"], mapBytes: MAP });
    assert.equal(again.dbi("missing"), undefined, "a read-only environment made a table");
    const read = again.begin(true);
    assert.equal(lmdb.get(read, again.dbi("t")!, new Uint8Array([1]))!.length, 100_000);
    lmdb.abort(read);
    // Open read-only here, it is not opened for writing too.
    assert.throws(
      () => lmdb.Env.open(dir, { readOnly: false, tables: ["t"], mapBytes: MAP }),
      /open read-only in this process/,
    );
    again.close();
  }),
);

Deno.test(
  "lmdb: a store's file written by lmdb-js reads the same through the binding",
  withEnv(async (dir) => {
    const rng = new Rng(12);
    const written = new Map<string, Uint8Array>();
    const { env, dbs: [inodes] } = openAsLmdbJs(dir, ["inodes"]);
    env.transactionSync(() => {
      for (let i = 0; i < 300; i++) {
        const key = rng.bytes(32);
        // Any bytes: "inodes" is not a packed table (a pack reference is told by its first byte).
        const value = rng.bytes(rng.int(2) ? 65_000 : 200);
        inodes.putSync(key, value);
        written.set(hex(key), value);
      }
    });
    await env.close();
    const r = LmdbRecordStore.open(dir);
    assert.equal(r.count("inodes"), written.size);
    let n = 0;
    for (const [k, v] of r.range("inodes")) {
      assert.deepEqual(v, written.get(hex(k)));
      assert.deepEqual(r.peek("inodes", k), v);
      n++;
    }
    assert.equal(n, written.size);
    await r.close();
  }),
);

Deno.test(
  "lmdb: reading ahead itself, the map brings in a value's pages and not its neighbours; values read in order bring in what follows",
  withEnv(async (dir) => {
    const opts = { readOnly: false, tables: ["t"], mapBytes: MAP, readAhead: "own" as const };
    const key = (i: number) => new Uint8Array([i >> 8, i & 255]);
    let env = lmdb.Env.open(dir, opts);
    const txn = env.begin(false);
    for (let i = 0; i < 400; i++) lmdb.put(txn, env.dbi("t")!, key(i), new Uint8Array(65_000).fill(i & 255));
    lmdb.commit(txn);
    env.close();
    const file = `${dir}/data.mdb`;
    dropPages(file);
    const before = residentPages(file).filter(Boolean).length;
    assert.ok(before <= 4, `${before} pages still cached after DONTNEED`);

    env = lmdb.Env.open(dir, opts);
    const read = env.begin(true);
    const one = env.view(read, env.dbi("t")!, key(200))!;
    assert.equal(one.reduce((a, b) => a + b, 0), 65_000 * 200);
    // The value's 16 pages, the B-tree's few, the meta pages: no read-around of megabytes.
    const afterOne = residentPages(file).filter(Boolean).length;
    assert.ok(
      afterOne >= 16 && afterOne <= 40,
      `${afterOne} pages in the page cache after reading one 65,000-byte value`,
    );

    for (let i = 0; i < 8; i++) env.view(read, env.dbi("t")!, key(i));
    // Eight values in order: the reader is sequential, and the next 8 MiB are asked for.
    // The kernel reads them in the background: wait until they are in (or fail at 10 s).
    const want = afterOne + 2048;
    const after = (await residentWhen(file, (r) => r.filter(Boolean).length >= want)).filter(Boolean).length;
    assert.ok(after >= want, `${after} pages in the page cache after a sequential read of eight`);
    lmdb.abort(read);
    env.close();
  }),
);

Deno.test(
  "lmdb: reading ahead itself, a value of a few KiB in overflow pages is asked for whole before it is touched",
  withEnv(async (dir) => {
    // Values over ~2 KiB sit in overflow pages that finding them does not touch; with the
    // kernel's read-around off, each page would otherwise be read when first touched, in turn.
    const opts = { readOnly: false, tables: ["t"], mapBytes: MAP, readAhead: "own" as const };
    const key = (i: number) => new Uint8Array([i]);
    let env = lmdb.Env.open(dir, opts);
    const txn = env.begin(false);
    for (let i = 0; i < 64; i++) lmdb.put(txn, env.dbi("t")!, key(i), new Uint8Array(6_000).fill(i));
    lmdb.commit(txn);
    env.close();
    const file = `${dir}/data.mdb`;
    dropPages(file);

    env = lmdb.Env.open(dir, opts);
    const read = env.begin(true);
    const mapStart = Number(Deno.UnsafePointer.value(env.map().address));
    const value = env.view(read, env.dbi("t")!, key(40))!;
    const at = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(value)));
    const pages = [Math.floor((at - mapStart) / 4096), Math.floor((at - mapStart + value.length - 1) / 4096)];
    assert.ok(pages[1] > pages[0], "the value spans two pages");
    // Not touched: the kernel reads what was asked for in the background (or fails at 10 s).
    const resident = await residentWhen(file, (r) => pages.every((p) => r[p]));
    assert.deepEqual(pages.map((p) => resident[p]), [true, true], "both of the value's pages asked for");
    assert.equal(value[5_999], 40);
    lmdb.abort(read);
    env.close();
  }),
);

Deno.test(
  "lmdb: a reader that sits idle does not hold its snapshot: freed pages are reused and the file stays small",
  withEnv(async (dir) => {
    const writer = LmdbRecordStore.open(dir, { create: true });
    // Joins the writer's environment, as the mount's loader thread does.
    const reader = LmdbRecordStore.open(dir);
    const key = new Uint8Array([1]);
    writer.write(() => writer.put("meta", key, new Uint8Array(100_000)));
    assert.equal(reader.get("meta", key)?.length, 100_000);
    // The reader yields, and reads nothing more.
    await new Promise((r) => setTimeout(r, 0));
    for (let i = 0; i < 200; i++) writer.write(() => writer.put("meta", key, new Uint8Array(100_000).fill(i)));
    const bytes = Deno.statSync(`${dir}/data.mdb`).size;
    // 100 KB rewritten 200 times: with the reader's snapshot held, every version stays (20 MB).
    assert.ok(bytes < 2_000_000, `the file is ${bytes} bytes`);
    assert.equal(reader.get("meta", key)![0], 199, "the reader's next read sees the last write");
    await reader.close();
    await writer.close();
  }),
);

Deno.test(
  "lmdb: a commit gives back the pages LMDB would keep for reuse, past a few",
  withEnv((dir) => {
    const env = lmdb.Env.open(dir, { readOnly: false, tables: ["t"], mapBytes: MAP });
    const dbi = env.dbi("t")!;
    const keyOf = (i: number) => new Uint8Array([i >> 16, (i >> 8) & 0xff, i & 0xff]);
    const fill = (txn: Deno.PointerValue, base: number) => {
      for (let i = 0; i < 30_000; i++) lmdb.put(txn, dbi, keyOf(i), new Uint8Array(200).fill(base + (i % 7)));
    };
    try {
      // An aborted transaction's pages stay on LMDB's list (abort is plain LMDB): the count sees them.
      let txn = env.begin(false);
      fill(txn, 0);
      lmdb.abort(txn);
      assert.ok(env.sparePages() > 1_000, `${env.sparePages()} spare pages after an abort of ~1,500 dirty pages`);
      txn = env.begin(false);
      fill(txn, 1);
      lmdb.commit(txn);
      assert.ok(env.sparePages() <= 256, `${env.sparePages()} spare pages after a commit`);
      const read = env.begin(true);
      assert.deepEqual(lmdb.get(read, dbi, keyOf(29_999)), new Uint8Array(200).fill(1 + (29_999 % 7)));
      lmdb.abort(read);
    } finally {
      env.close();
    }
  }),
);
