/**
 * A snapshot's reverse deltas made after it (store/head/later_deltas.ts): the same
 * history taken with deltas made at once and with deltas left for later gives the same
 * records, byte for byte, and the same bytes in every revision; until they are made the
 * older versions stay whole; a failed snapshot's queue is dropped; closing makes them.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Ino, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { isDelta } from "../store/blocks/block_codec.ts";
import { pageDeltaBaseOf } from "../store/tree/pages.ts";
import type { Table } from "../store/records/records.ts";
import { checkStoreInvariants, everyRevision, Rng, sha256Hex, tempDir } from "./helpers.ts";

const BS = 4096;
const meta = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };

/** One change to the head, applied alike to both stores. */
type Op =
  | { op: "write"; dir: string; name: string; at: number; data: Uint8Array }
  | { op: "replace"; dir: string; name: string; data: Uint8Array }
  | { op: "move"; from: string; to: string; name: string; data: Uint8Array };

function dirIno(store: Store, dir: string): Ino {
  if (dir === "") return ROOT_INO;
  const found = store.head.lookup(ROOT_INO, dir);
  if (found !== undefined) return found;
  return store.head.create(ROOT_INO, dir, { ...meta, type: "dir", mode: 0o755 }).ino;
}

function apply(store: Store, o: Op): void {
  let touched: Ino[];
  if (o.op === "write") {
    const parent = dirIno(store, o.dir);
    const ino = store.head.lookup(parent, o.name) ??
      store.head.create(parent, o.name, { ...meta, type: "file" }).ino;
    store.head.write(ino, o.at, o.data);
    touched = [ino, parent];
  } else {
    const from = dirIno(store, o.op === "move" ? o.from : o.dir);
    const to = dirIno(store, o.op === "move" ? o.to : o.dir);
    // Saved as a new file, as editors and tar do: the old inode goes, a new one comes.
    store.head.remove(from, o.name, false);
    const ino = store.head.create(to, o.name, { ...meta, type: "file" }).ino;
    store.head.write(ino, 0, o.data);
    touched = [ino, from, to];
  }
  // Times of the clock would make the two stores' trees differ.
  for (const ino of [...touched, ROOT_INO]) store.head.setattr(ino, { mtimeNs: 0n });
}

/** A random history: text files edited in place, saved anew, moved; small files in a big directory. */
class History {
  readonly files = new Map<string, Uint8Array>();
  constructor(private readonly rng: Rng) {}

  initial(): Op[] {
    const ops: Op[] = [];
    for (let i = 0; i < 6; i++) {
      const data = this.rng.bytes(BS * (3 + this.rng.int(6)), "text");
      ops.push(this.set(`d${i % 2}`, `f${i}.txt`, data, 0));
    }
    for (let i = 0; i < 40; i++) {
      ops.push(this.set("small", `s${i}`, this.rng.bytes(100 + this.rng.int(900), "text"), 0));
    }
    return ops;
  }

  round(): Op[] {
    const ops: Op[] = [];
    const big = [...this.files.keys()].filter((p) => !p.startsWith("small/"));
    for (let k = 1 + this.rng.int(3); k > 0; k--) {
      const path = this.rng.pick(big);
      const [dir, name] = path.split("/");
      const old = this.files.get(path)!;
      const next = old.slice();
      const at = this.rng.int(old.length - 200);
      next.set(this.rng.bytes(50 + this.rng.int(150), "text"), at);
      const how = this.rng.int(3);
      if (how === 0) ops.push(this.set(dir, name, next, at, next.subarray(at, at + 200)));
      else if (how === 1) {
        this.files.set(path, next);
        ops.push({ op: "replace", dir, name, data: next });
      } else {
        const to = dir === "d0" ? "d1" : "d0";
        if (this.files.has(`${to}/${name}`)) continue;
        this.files.delete(path);
        this.files.set(`${to}/${name}`, next);
        ops.push({ op: "move", from: dir, to, name, data: next });
        big.splice(big.indexOf(path), 1, `${to}/${name}`);
      }
    }
    const small = `s${this.rng.int(40)}`;
    ops.push(this.set("small", small, this.rng.bytes(100 + this.rng.int(900), "text"), 0));
    return ops;
  }

  private set(dir: string, name: string, whole: Uint8Array, at: number, written = whole): Op {
    this.files.set(`${dir}/${name}`, whole);
    return { op: "write", dir, name, at, data: written };
  }
}

function table(store: Store, t: Table): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of store.parts.records.range(t)) {
    out.set(Buffer.from(k).toString("hex"), Buffer.from(v).toString("hex"));
  }
  return out;
}

function deltaCount(store: Store): number {
  let n = 0;
  for (const [, v] of store.parts.records.range("blocks")) if (isDelta(v)) n++;
  for (const [, v] of store.parts.records.range("pages")) if (pageDeltaBaseOf(v)) n++;
  return n;
}

Deno.test("later deltas: a history with deltas made later stores what deltas made at once store, byte for byte", async () => {
  const dir = await tempDir("revfs-later-");
  const now = await Store.init(`${dir}/now`, { blockSize: BS });
  const later = await Store.init(`${dir}/later`, { blockSize: BS });
  try {
    const rng = new Rng(808);
    const h = new History(rng);
    for (const o of h.initial()) for (const s of [now, later]) apply(s, o);
    for (let round = 0; round < 30; round++) {
      const ops = round === 0 ? [] : h.round();
      for (const o of ops) for (const s of [now, later]) apply(s, o);
      now.snapshot(`r${round}`);
      later.snapshot(`r${round}`, { deltasLater: true });
      const queued = later.parts.laterDeltas.pending;
      if (round > 0) {
        // Its older versions are whole yet: fewer deltas than the store that made them.
        assert.ok(queued > 0, `round ${round}: nothing left for later`);
        assert.ok(deltaCount(later) < deltaCount(now), `round ${round}: the snapshot made its deltas itself`);
      }
      // The last round's are left for closing to make.
      if (round < 29 && rng.chance(0.5)) {
        later.makeLaterDeltas();
        assert.equal(later.parts.laterDeltas.pending, 0);
        // Made: the same records as the store that made them at once.
        assert.deepEqual(table(later, "blocks"), table(now, "blocks"), `round ${round}: blocks`);
        assert.deepEqual(table(later, "pages"), table(now, "pages"), `round ${round}: pages`);
      } // else the next snapshot makes them first
    }
    assert.ok(deltaCount(now) > 40, `${deltaCount(now)} deltas in the history`);
    assert.ok(later.parts.laterDeltas.pending > 0);
    await later.close();
    const reopened = await Store.open(`${dir}/later`, { write: true });
    try {
      for (const t of ["blocks", "pages", "chains"] as const) {
        assert.deepEqual(table(reopened, t), table(now, t), `${t} after closing`);
      }
      assert.deepEqual(everyRevision(reopened), everyRevision(now));
      checkStoreInvariants(reopened);
      checkStoreInvariants(now);
    } finally {
      await reopened.close();
    }
  } finally {
    await now.close().catch(() => {});
    await later.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("later deltas: a snapshot that fails drops what it left for later; the next one is whole and right", async () => {
  const dir = await tempDir("revfs-later-");
  const store = await Store.init(`${dir}/store`, { blockSize: BS });
  try {
    const rng = new Rng(909);
    const h = new History(rng);
    for (const o of h.initial()) apply(store, o);
    store.snapshot("first", { deltasLater: true });
    for (const o of h.round()) apply(store, o);
    const records = store.parts.records;
    const write = records.write.bind(records);
    // As a commit that finds the disk full: the snapshot's work is done, then undone.
    records.write = <T>(fn: () => T): T =>
      write(() => {
        fn();
        throw new Error("no space (test)");
      });
    assert.throws(() => store.snapshot("fails", { deltasLater: true }), /no space \(test\)/);
    records.write = write;
    assert.equal(store.parts.laterDeltas.pending, 0, "the failed snapshot's deltas are still queued");
    assert.equal(store.latest()?.rev, 1);
    store.snapshot("again", { deltasLater: true });
    assert.ok(store.parts.laterDeltas.pending > 0);
    store.makeLaterDeltas();
    assert.ok(deltaCount(store) > 0, "no delta made");
    const stored = everyRevision(store);
    assert.equal([...stored.keys()].filter((k) => k.startsWith("2:")).length, h.files.size);
    for (const [path, data] of h.files) assert.equal(stored.get(`2:${path}`), sha256Hex(data), path);
    checkStoreInvariants(store);
  } finally {
    await store.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
