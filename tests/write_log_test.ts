/**
 * The head's write log (store/head/write_log.ts): an fsync of small writes is durable
 * through the log alone, and the next writer (or a reader that can take the writer lock)
 * replays what a crashed writer logged, in order, over the head's blocks; nothing else.
 */
import assert from "node:assert/strict";
import { PageCache } from "../fs/page_cache.ts";
import { Store } from "../store/store.ts";
import { WRITE_LOG_FILE } from "../store/head/write_log.ts";
import type { Ino } from "../store/types.ts";
import { assertBytes, checkStoreInvariants, readHead, Rng, runCli, storeTest, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";
import { readTree, treeDiff } from "./file_tree.ts";

const BS = 4096;

function logSize(dir: string): number {
  try {
    return Deno.statSync(`${dir}/${WRITE_LOG_FILE}`).size;
  } catch {
    return 0;
  }
}

function newFile(store: Store, name: string, bytes: Uint8Array): Ino {
  const ino = store.head.create(1 as Ino, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  if (bytes.length > 0) store.head.write(ino, 0, bytes);
  store.commit();
  return ino;
}

function headBytes(store: Store, ino: Ino): Uint8Array {
  const i = store.head.inode(ino);
  assert.ok(i?.type === "file", `inode ${ino} is a file`);
  return readHead(store, ino, 0, i.size);
}

function patched(base: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(base.length, at + bytes.length));
  out.set(base);
  out.set(bytes, at);
  return out;
}

storeTest(
  "write log: a writer's logged writes come back in order after it stops without writing them out",
  async (ts) => {
    const { store, dir } = ts;
    const path = `${dir}/store`;
    const rng = new Rng(7);
    const a0 = rng.bytes(5 * BS + 100, "binary");
    const a = newFile(store, "a", a0);
    const b = newFile(store, "b", new Uint8Array(0));
    const gone = newFile(store, "gone", rng.bytes(100, "text"));
    // Overlapping ranges, across block boundaries, past the end (growing the file).
    const w1 = rng.bytes(3 * BS, "binary"), w2 = rng.bytes(BS / 2, "text"), w3 = rng.bytes(2 * BS + 7, "binary");
    store.head.logWrites([{ ino: a, size: a0.length, mtimeNs: 5n, ranges: [[BS - 10, w1]] }]);
    store.head.logWrites([
      { ino: a, size: 7 * BS, mtimeNs: 6n, ranges: [[2 * BS, w2], [6 * BS - 7, w3.subarray(0, BS + 7)]] },
      { ino: b, size: 3, mtimeNs: 9n, ranges: [[0, new Uint8Array([1, 2, 3])]] },
    ]);
    store.head.logWrites([{ ino: gone, size: 100, mtimeNs: 1n, ranges: [[0, new Uint8Array(100)]] }]);
    store.head.remove(1 as Ino, "gone", false);
    await store.close();
    assert.ok(logSize(path) > 16, "the log holds the writes");

    // A reader folds what the stopped writer left, then reads it.
    const reader = await Store.open(path);
    let want = patched(patched(a0, BS - 10, w1), 2 * BS, w2);
    want = patched(want, 6 * BS - 7, w3.subarray(0, BS + 7));
    assert.equal(want.length, 7 * BS);
    assertBytes(headBytes(reader, a), want, "a after replay");
    assertBytes(headBytes(reader, b), new Uint8Array([1, 2, 3]), "b after replay");
    assert.equal(reader.head.inode(a)?.mtimeNs, 6n);
    assert.equal(reader.head.inode(gone), undefined, "a removed file stays removed");
    checkStoreInvariants(reader);
    await reader.close();
    assert.equal(logSize(path), 0, "a replayed log is emptied");

    // Nothing is replayed twice: a later change survives the next open.
    ts.store = await Store.open(path, { write: true });
    ts.store.head.write(a, 0, new Uint8Array([9]));
    await ts.store.close();
    const again = await Store.open(path, { write: true });
    want[0] = 9;
    assertBytes(headBytes(again, a), want, "a after a later write and reopen");
    await again.close();
  },
  { blockSize: BS },
);

Deno.test("write log: a torn or damaged record ends the log; what came before it is replayed", async () => {
  const dir = await tempDir("revfs-wlog-");
  try {
    /** A store whose writer logged three records and stopped; `damage` changes its log. */
    const replayed = async (damage: (log: Uint8Array) => Uint8Array): Promise<number> => {
      const path = `${dir}/s${Math.random().toString(36).slice(2)}`;
      const store = await Store.init(path, { blockSize: BS });
      const f = newFile(store, "f", new Uint8Array(3 * BS));
      for (let n = 1; n <= 3; n++) {
        const ranges: [number, Uint8Array][] = [[n * 1000, new Uint8Array(50).fill(n)]];
        store.head.logWrites([{ ino: f, size: 3 * BS, mtimeNs: BigInt(n), ranges }]);
      }
      await store.close();
      const file = `${path}/${WRITE_LOG_FILE}`;
      Deno.writeFileSync(file, damage(Deno.readFileSync(file)));
      const s = await Store.open(path, { write: true });
      try {
        const got = headBytes(s, f);
        const done = [1, 2, 3].filter((n) => got.subarray(n * 1000, n * 1000 + 50).every((b) => b === n));
        const none = [1, 2, 3].filter((n) => got.subarray(n * 1000, n * 1000 + 50).every((b) => b === 0));
        assert.equal(done.length + none.length, 3, "each record all there or not at all");
        assert.deepEqual(done, [1, 2, 3].slice(0, done.length), "a prefix of the records");
        checkStoreInvariants(s);
        return done.length;
      } finally {
        await s.close();
      }
    };
    // Records of one size; the file runs on past them (zeros).
    const frame = (log: Uint8Array) => 4 + new DataView(log.buffer).getUint32(16, true) + 8;
    const end = (log: Uint8Array) => 16 + 3 * frame(log);
    assert.equal(await replayed((log) => log), 3);
    assert.equal(await replayed((log) => log.slice(0, end(log) - 3)), 2, "the last append cut short");
    assert.equal(
      await replayed((log) => {
        const out = log.slice();
        out.fill(0, end(log) - 5, end(log)); // its last sectors never written
        return out;
      }),
      2,
      "the last append torn",
    );
    assert.equal(await replayed((log) => log.slice(0, 16 + 2)), 0, "cut inside the first record's length");
    assert.equal(
      await replayed((log) => {
        const out = log.slice();
        out[16 + frame(log) + 20] ^= 1; // inside the second record's body
        return out;
      }),
      1,
      "a flipped byte in the second record",
    );
    assert.equal(
      await replayed((log) => {
        const out = log.slice();
        out[12] += 1; // a generation the records do not name
        return out;
      }),
      0,
      "records of another generation",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

storeTest("write log: a file's logged writes are stored before anything else changes its blocks", (ts) => {
  const { store } = ts;
  const f = newFile(store, "f", new Uint8Array(2 * BS));
  const g = newFile(store, "g", new Uint8Array(BS));
  store.head.logWrites([{ ino: f, size: 2 * BS, mtimeNs: 1n, ranges: [[0, new Uint8Array([1])]] }]);
  assert.throws(() => store.head.setattr(f, { size: 0 }), /only logged/);
  assert.throws(() => store.head.write(f, 0, new Uint8Array(1)), /only logged/);
  assert.throws(() => store.snapshot(), /only logged/);
  assert.throws(() => store.head.writeBlocks([{ ino: g, size: BS, mtimeNs: 1n, blocks: [] }]), /logged writes behind/);
  // A writeout of every logged file folds the log; then all of it is allowed again.
  const page = new Uint8Array(BS);
  page[0] = 1;
  store.head.writeBlocks([{ ino: f, size: 2 * BS, mtimeNs: 1n, blocks: [[0, page]] }]);
  store.head.setattr(f, { size: BS });
  store.snapshot();
  assert.equal(headBytes(store, f)[0], 1);
}, { blockSize: BS });

storeTest("write log: logged namespace changes a commit applied are not replayed over what came after", async (ts) => {
  const { store, dir } = ts;
  const path = `${dir}/store`;
  const a = newFile(store, "a", new Uint8Array(BS));
  // A's write stays only in the log, so the log is not emptied by the commits below.
  store.head.logWrites([{ ino: a, size: BS, mtimeNs: 1n, ranges: [[0, new Uint8Array([7])]] }]);
  const b = store.head.create(1 as Ino, "b", { type: "file", mode: 0o600, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  store.head.logWrites([]); // b's creation: in the log, not committed
  assert.ok(store.pendingChanges.count > 0);
  store.commit();
  store.head.write(b, 0, new TextEncoder().encode("hello")); // b's inode as committed now: 5 bytes
  const d = newFile(store, "d", new Uint8Array(0));
  store.head.rename(1 as Ino, "d", 1 as Ino, "e"); // a later change, only in the log
  store.head.logWrites([]);
  await store.close();
  assert.ok(logSize(path) > 16);
  const s = await Store.open(path, { write: true });
  ts.store = s;
  assertBytes(headBytes(s, b), new TextEncoder().encode("hello"), "b after replay");
  assert.equal(s.head.lookup(1 as Ino, "e"), d);
  assert.equal(s.head.lookup(1 as Ino, "d"), undefined);
  assert.equal(headBytes(s, a)[0], 7);
}, { blockSize: BS });

/**
 * The page cache over a store, with random writes, fsyncs, truncates and writeouts, and
 * a writer that stops at random points (its cache lost, nothing written out): after the
 * next open, every file fsync'd and not changed since holds exactly what it held then.
 */
storeTest("write log: random writes and fsyncs through the page cache survive a writer that stops", async (ts) => {
  const path = `${ts.dir}/store`;
  const rng = new Rng(20261202);
  const names = ["a", "b", "c", "d"];
  const inos = names.map((n) => newFile(ts.store, n, rng.bytes(rng.int(6 * BS), "binary")));
  const current = inos.map((ino) => headBytes(ts.store, ino));
  await ts.store.close();
  let replays = 0;
  for (let round = 0; round < 12; round++) {
    const store = await Store.open(path, { write: true });
    ts.store = store;
    const cache = new PageCache(store, 16 * BS);
    const synced = new Map<number, Uint8Array>();
    for (let op = 0; op < 60; op++) {
      const k = rng.int(inos.length);
      const ino = inos[k];
      const r = rng.next();
      if (r < 0.55) {
        const at = rng.int(current[k].length + BS);
        const bytes = rng.bytes(1 + rng.int(rng.chance(0.8) ? 600 : 3 * BS), "binary");
        cache.write(ino, at, bytes);
        current[k] = patched(current[k], at, bytes);
        synced.delete(k);
      } else if (r < 0.85) {
        await store.flush();
        cache.sync(ino);
        synced.set(k, current[k].slice());
      } else if (r < 0.95) {
        const size = rng.int(current[k].length + 2 * BS);
        cache.beforeResize(ino, size);
        store.head.setattr(ino, { size });
        const resized = new Uint8Array(size);
        resized.set(current[k].subarray(0, size));
        current[k] = resized;
        synced.delete(k);
      } else {
        cache.writeOutAll();
      }
    }
    if (rng.chance(0.3)) {
      // Every file fsync'd: all of it must come back.
      await store.flush();
      for (const [k, ino] of inos.entries()) {
        cache.sync(ino);
        synced.set(k, current[k].slice());
      }
    }
    const logged = logSize(path) > 16;
    await store.close(); // the cache is dropped unwritten
    const reopened = await Store.open(path, { write: true });
    ts.store = reopened;
    if (logged) replays++;
    for (const [k, want] of synced) assertBytes(headBytes(reopened, inos[k]), want, `round ${round}: ${names[k]}`);
    // What the next round starts from: the store's state, whatever was lost.
    for (const [k, ino] of inos.entries()) current[k] = headBytes(reopened, ino);
    checkStoreInvariants(reopened);
    await reopened.close();
  }
  assert.ok(replays >= 4, `only ${replays} of 12 rounds left writes in the log`);
}, { blockSize: BS });

Deno.test("write log: writes a program fsync'd in a mount killed with SIGKILL are there after it", async () => {
  const dir = await tempDir("revfs-wlog-");
  const store = `${dir}/store`, mnt = `${dir}/mnt`;
  try {
    const rng = new Rng(11);
    const base = rng.bytes(1 << 20, "binary");
    const patches: [number, Uint8Array][] = [[4096, rng.bytes(4096, "text")], [300_000, rng.bytes(100, "text")]];
    Deno.writeFileSync(`${dir}/base`, base);
    for (const [n, [, p]] of patches.entries()) Deno.writeFileSync(`${dir}/p${n}`, p);
    await withMount(store, mnt, async ({ process }) => {
      const cp = await sh(`cp ${dir}/base ${mnt}/db && sync ${mnt}/db`);
      assert.equal(cp.code, 0, cp.stderr);
      for (const [n, [at]] of patches.entries()) {
        const dd = await sh(`dd if=${dir}/p${n} of=${mnt}/db bs=1 seek=${at} conv=notrunc,fsync status=none`);
        assert.equal(dd.code, 0, dd.stderr);
      }
      assert.ok(logSize(store) > 16, "dd's fsyncs went to the write log");
      process.kill("SIGKILL");
      await process.status;
    });
    let want = base;
    for (const [at, p] of patches) want = patched(want, at, p);
    // A reader replays what the killed mount logged.
    const cat = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../cli.ts", import.meta.url).pathname, "cat", store, "db"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(cat.code, 0, new TextDecoder().decode(cat.stderr));
    assertBytes(cat.stdout, want, "revfs cat after the kill");
    assert.equal(logSize(store), 0, "the reader folded the log");
    const v = await runCli("verify", store);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    await withMount(store, mnt, async () => {
      assertBytes(await Deno.readFile(`${mnt}/db`), want, "through the mount again");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("write log: a writer killed after fsyncs comes back exactly, names and data, from its log", async () => {
  const dir = await tempDir("revfs-wlog-");
  try {
    let replayedChanges = 0;
    for (const seed of [1, 2, 3]) {
      const store = `${dir}/store${seed}`, ref = `${dir}/ref${seed}`, out = `${dir}/out${seed}`;
      Deno.mkdirSync(ref);
      await (await Store.init(store, { blockSize: BS })).close();
      const child = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("./write_log_child.ts", import.meta.url).pathname, store, ref, String(seed)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(child.signal, "SIGKILL", new TextDecoder().decode(child.stderr));
      const report = JSON.parse(new TextDecoder().decode(child.stdout));
      assert.ok(report.logs > 10, `seed ${seed}: only ${report.logs} fsyncs went to the log`);
      if (report.pending > 0) replayedChanges++;
      const s = await Store.open(store, { write: true });
      try {
        checkStoreInvariants(s);
        await s.exportTree("head", out);
      } finally {
        await s.close();
      }
      assert.deepEqual(treeDiff(readTree(ref), readTree(out)), [], `seed ${seed}`);
    }
    assert.ok(replayedChanges > 0, "no run died with namespace changes only in the log");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
