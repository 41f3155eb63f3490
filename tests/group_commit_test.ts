/**
 * Group commit: changes made with `writeLater` are seen at once by every read, undone
 * whole when their function throws, committed by the next `write` (and kept pending
 * when that fails), and lost only when never committed. Through the mount: fsyncdir
 * commits namespace changes, and what survives a SIGKILL is a prefix of them.
 */
import assert from "node:assert/strict";
import { LmdbRecordStore } from "../store/records/lmdb_backend.ts";
import type { Table } from "../store/records/records.ts";
import { Rng, runCli, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

const TABLES: Table[] = ["dirents", "inodes"];
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => new Uint8Array(s.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);

/** What reads must see: table -> hex key -> hex value. Hex strings sort in byte order. */
type Model = Map<Table, Map<string, string>>;
const cloneModel = (m: Model): Model => new Map([...m].map(([t, v]) => [t, new Map(v)]));

function randomKey(rng: Rng): Uint8Array {
  // Short keys over bytes that test ordering at the edges (0x00, 0x7f/0x80, 0xff).
  const alphabet = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
  return new Uint8Array(Array.from({ length: 1 + rng.int(3) }, () => rng.pick(alphabet)));
}

function checkReads(records: LmdbRecordStore, model: Model, rng: Rng, where: string): void {
  for (const t of TABLES) {
    const want = [...model.get(t)!].sort((a, b) => a[0] < b[0] ? -1 : 1);
    const all = [...records.range(t)].map(([k, v]) => [hex(k), hex(v)]);
    assert.deepEqual(all, want, `${where}: range of ${t}`);
    assert.equal(records.count(t), want.length, `${where}: count of ${t}`);
    const start = randomKey(rng), end = randomKey(rng);
    const inRange = want.filter(([k]) => k >= hex(start) && k < hex(end)).map(([k]) => k);
    assert.deepEqual([...records.keys(t, { start, end })].map(hex), inRange, `${where}: keys of ${t} in a range`);
    for (let n = 0; n < 5; n++) {
      const k = randomKey(rng);
      const v = model.get(t)!.get(hex(k));
      assert.equal(records.has(t, k), v !== undefined, `${where}: has ${hex(k)}`);
      const got = records.get(t, k);
      assert.equal(got === undefined ? undefined : hex(got), v, `${where}: get ${hex(k)}`);
    }
  }
}

Deno.test("group commit: pending changes read back at once, roll back whole, and commit with the next write", async () => {
  const dir = await tempDir("revfs-group-");
  const rng = new Rng(20261121);
  let records = LmdbRecordStore.open(dir, { create: true });
  try {
    let visible: Model = new Map(TABLES.map((t) => [t, new Map()]));
    let committed = cloneModel(visible);
    const change = (m: Model) => {
      const t = rng.pick(TABLES), k = randomKey(rng);
      if (rng.chance(0.3)) {
        records.del(t, k);
        m.get(t)!.delete(hex(k));
      } else {
        const v = rng.bytes(rng.int(4));
        records.put(t, k, v);
        m.get(t)!.set(hex(k), hex(v));
        v.fill(0xaa); // the store must have kept its own copy
      }
    };
    let laterOps = 0, rollbacks = 0, commits = 0, failedCommits = 0;
    for (let step = 0; step < 600; step++) {
      const r = rng.next();
      const attempt = cloneModel(visible);
      const fail = rng.chance(0.2);
      const run = (write: (fn: () => void) => void) => {
        try {
          write(() => {
            for (let n = rng.int(5); n >= 0; n--) change(attempt);
            // A nested call joins the outer one.
            if (rng.chance(0.3)) records.writeLater(() => change(attempt));
            if (fail) throw new Error("fails on purpose");
          });
        } catch (e) {
          if ((e as Error).message !== "fails on purpose") throw e;
        }
      };
      if (r < 0.7) {
        run((fn) => records.writeLater(fn));
        laterOps++;
        if (fail) rollbacks++;
        else visible = attempt;
      } else {
        run((fn) => records.write(fn));
        if (fail) failedCommits++;
        else {
          commits++;
          visible = attempt;
          committed = cloneModel(visible);
        }
      }
      checkReads(records, visible, rng, `step ${step}`);
      if (r >= 0.7 && !fail) assert.equal(records.pendingChanges.count, 0, "a write commits what was pending");
      if (records.pendingChanges.count === 0) {
        assert.ok(sameModel(visible, committed), "nothing pending: all committed");
      }
    }
    assert.ok(laterOps > 300 && rollbacks > 50 && commits > 100 && failedCommits > 20, "every path was taken");
    // Closing without a commit loses exactly what was pending.
    records.writeLater(() => {
      for (let n = 0; n < 5; n++) change(visible);
    });
    assert.ok(records.pendingChanges.count > 0 && !sameModel(visible, committed));
    await records.close();
    records = LmdbRecordStore.open(dir);
    checkReads(records, committed, rng, "reopened");
    for (const t of TABLES) {
      for (const [k] of committed.get(t)!) assert.ok(records.has(t, unhex(k)));
    }
  } finally {
    await records.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function sameModel(a: Model, b: Model): boolean {
  return TABLES.every((t) => {
    const x = a.get(t)!, y = b.get(t)!;
    return x.size === y.size && [...x].every(([k, v]) => y.get(k) === v);
  });
}

Deno.test("group commit: fsyncdir makes names durable, and a SIGKILL keeps a prefix of what followed", async () => {
  const dir = await tempDir("revfs-group-mount-");
  const store = `${dir}/store`, mnt = `${dir}/mnt`;
  // After the sync: creates interleaved with renames of synced names, in this order.
  const ops: ({ op: "create"; name: string } | { op: "rename"; from: string; to: string })[] = [];
  for (let i = 0; i < 200; i++) {
    ops.push({ op: "create", name: `g${i}` });
    if (i % 10 === 5) ops.push({ op: "rename", from: `f${i / 5 | 0}`, to: `h${i / 5 | 0}` });
  }
  const synced = Array.from({ length: 100 }, (_, i) => `f${i}`);
  try {
    await withMount(store, mnt, async (m) => {
      await Deno.mkdir(`${mnt}/d`);
      for (const name of synced) await Deno.writeTextFile(`${mnt}/d/${name}`, name);
      const r = await sh(`sync ${mnt}/d`);
      assert.equal(r.code, 0, r.stderr);
      for (const o of ops) {
        if (o.op === "create") await Deno.writeTextFile(`${mnt}/d/${o.name}`, o.name);
        else await Deno.rename(`${mnt}/d/${o.from}`, `${mnt}/d/${o.to}`);
      }
      // Well within the mount's 5 s writeback: most of the above is still pending.
      m.process.kill("SIGKILL");
      await m.process.status;
    });
    const names: string[] = [];
    await withMount(store, mnt, async () => {
      for await (const e of Deno.readDir(`${mnt}/d`)) names.push(e.name);
    });
    names.sort();
    const state = new Set(synced);
    const prefixes: string[] = [[...state].sort().join(" ")];
    for (const o of ops) {
      if (o.op === "create") state.add(o.name);
      else {
        state.delete(o.from);
        state.add(o.to);
      }
      prefixes.push([...state].sort().join(" "));
    }
    const k = prefixes.indexOf(names.join(" "));
    assert.ok(k >= 0, `after the crash the directory holds no prefix of the changes: ${names.join(" ")}`);
    console.log(`  ${k} of ${ops.length} changes after the fsyncdir survived the SIGKILL`);
    const v = await runCli("verify", store);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
