/**
 * The head as a writer sees it: random writes, truncates and extensions at random
 * offsets, applied both to the head and to an in-memory model, with snapshots at
 * random points; every snapshot is read back after the run.
 */
import assert from "node:assert/strict";
import { fileChunks, type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { checkStoreInvariants, concatBytes, readHead, Rng, sha256Hex, storeTest } from "./helpers.ts";

for (const blockSize of [4096, 65536]) {
  storeTest(`head: random writes, truncates and snapshots match a byte model (block size ${blockSize})`, (ts) => {
    const { store } = ts;
    const rng = new Rng(blockSize);
    const names = ["a.bin", "b.txt", "c.dat"];
    const model = new Map<string, Uint8Array>();
    const inos = new Map<string, Ino>();
    for (const n of names) {
      inos.set(n, store.head.create(ROOT_INO, n, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino);
      model.set(n, new Uint8Array(0));
    }
    const snaps: [RevNumber, Map<string, string>][] = [];
    for (let step = 0; step < 400; step++) {
      const name = rng.pick(names);
      const ino = inos.get(name)!;
      let m = model.get(name)!;
      const op = rng.int(10);
      if (op < 6) {
        // Writes, often straddling block boundaries, sometimes far past the end (sparse).
        const at = rng.chance(0.1) ? m.length + rng.int(5 * blockSize) : rng.int(m.length + 1);
        const data = rng.chance(0.2)
          ? new Uint8Array(1 + rng.int(2 * blockSize))
          : rng.bytes(1 + rng.int(2 * blockSize));
        store.head.write(ino, at, data);
        const grown = new Uint8Array(Math.max(m.length, at + data.length));
        grown.set(m);
        grown.set(data, at);
        m = grown;
      } else if (op < 8) {
        const size = rng.chance(0.5) ? rng.int(m.length + 1) : m.length + rng.int(3 * blockSize);
        store.head.setattr(ino, { size });
        const next = new Uint8Array(size);
        next.set(m.subarray(0, Math.min(size, m.length)));
        m = next;
      } else {
        const at = rng.int(m.length + 1);
        const len = rng.int(3 * blockSize);
        assert.deepEqual(readHead(store, ino, at, len), m.slice(at, at + len), `read ${name} at ${at}+${len}`);
      }
      model.set(name, m);
      if (rng.chance(0.08)) {
        const rev = store.snapshot(`step ${step}`);
        snaps.push([rev.rev, new Map([...model].map(([n, b]) => [n, sha256Hex(b)]))]);
      }
    }
    for (const n of names) {
      assert.equal(sha256Hex(concatBytes(fileChunks(store.view("head"), n, blockSize))), sha256Hex(model.get(n)!), n);
    }
    assert.ok(snaps.length >= 10, `only ${snaps.length} snapshots`);
    for (const [rev, files] of snaps) {
      const view = store.view(rev);
      for (const [n, sha] of files) {
        assert.equal(sha256Hex(concatBytes(fileChunks(view, n, blockSize))), sha, `revision ${rev} ${n}`);
      }
    }
  }, { blockSize });
}

storeTest("head: rename, remove and restore keep every revision intact", (ts) => {
  const { store } = ts;
  const h = store.head;
  const d = h.create(ROOT_INO, "dir", { type: "dir", mode: 0o755, uid: 0, gid: 0, mtimeNs: 1n }).ino;
  const f = h.create(d, "f.txt", { type: "file", mode: 0o600, uid: 0, gid: 0, mtimeNs: 2n }).ino;
  h.write(f, 0, new TextEncoder().encode("version one"));
  const r1 = store.snapshot("one");
  h.rename(d, "f.txt", ROOT_INO, "moved.txt");
  h.write(f, 0, new TextEncoder().encode("VERSION"));
  h.remove(ROOT_INO, "dir", true);
  const r2 = store.snapshot("two");
  assert.deepEqual(store.view(r2.rev).list("").map(([n]) => n), ["moved.txt"]);
  assert.deepEqual(store.diff(r1.rev, r2.rev).map((c) => `${c.kind} ${c.path}`), [
    "deleted dir",
    "deleted dir/f.txt",
    "added moved.txt",
  ]);
  assert.throws(() => h.rename(ROOT_INO, "moved.txt", ROOT_INO, "a/b"), /invalid file name/);
  assert.throws(
    () => h.create(ROOT_INO, "moved.txt", { type: "file", mode: 0, uid: 0, gid: 0, mtimeNs: 0n }),
    /exists/,
  );

  store.restore("dir/f.txt", r1.rev);
  const r3 = store.snapshot("restored");
  const text = (rev: RevNumber, p: string) =>
    new TextDecoder().decode(concatBytes(fileChunks(store.view(rev), p, store.blockSize)));
  assert.equal(text(r3.rev, "dir/f.txt"), "version one");
  assert.equal(text(r3.rev, "moved.txt"), "VERSION one");
  assert.equal(text(r1.rev, "dir/f.txt"), "version one");
  assert.equal(store.view(r3.rev).stat("dir/f.txt").mode, 0o600);
});

storeTest("head: an open file outlives its last name; orphans left by a crash are swept", async (ts) => {
  const { store } = ts;
  const h = store.head;
  const f = h.create(ROOT_INO, "journal", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  h.pin(f);
  h.write(f, 0, new TextEncoder().encode("still here"));
  h.remove(ROOT_INO, "journal", false);
  assert.equal(h.lookup(ROOT_INO, "journal"), undefined);
  assert.equal(new TextDecoder().decode(readHead(store, f, 0, 100)), "still here");
  const rev = store.snapshot("without the orphan");
  assert.deepEqual(store.view(rev.rev).list(""), []);
  h.unpin(f);
  assert.equal(h.inode(f), undefined, "last release frees the orphan");

  // A writer that stops with a file open leaves an orphan; the next one frees it.
  const g = h.create(ROOT_INO, "tmp", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  h.pin(g);
  h.remove(ROOT_INO, "tmp", false);
  assert.equal(h.sweepOrphans(), 0, "a pinned orphan is not swept");
  assert.ok(h.inode(g));
  await store.close();
  const next = await Store.open(`${ts.dir}/store`, { write: true });
  try {
    assert.ok(next.head.inode(g), "the orphan survived the writer");
    assert.equal(next.head.sweepOrphans(), 1);
    assert.equal(next.head.inode(g), undefined);
    checkStoreInvariants(next);
  } finally {
    await next.close();
  }
});

storeTest(
  "head: a directory lists names and types from its dirents alone; a format 6 dirent (no type) reads its inode",
  async (ts) => {
    const { store } = ts;
    const node = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n } as const;
    const d = store.head.create(ROOT_INO, "d", { ...node, type: "dir" }).ino;
    store.head.create(d, "f", { ...node, type: "file" });
    store.head.create(d, "s", { ...node, type: "symlink", target: "f" });
    store.head.create(d, "p", { ...node, type: "fifo" });
    store.head.create(d, "sub", { ...node, type: "dir" });
    await store.flush();
    const listed = () =>
      [...store.head.readdir(d)].map(([name, ino, type]) => `${name} ${type} ${store.head.inode(ino)?.type}`);
    const want = ["f file file", "p fifo fifo", "s symlink symlink", "sub dir dir"];
    assert.deepEqual(listed(), want);
    const { records } = store.parts;
    const dirents = [...records.range("dirents")].map(([k, v]) => [k.slice(), v.slice()]);
    assert.ok(dirents.every(([, v]) => v.length === 9), "a dirent without its type");
    // As format 6 wrote them: the inode number alone.
    records.write(() => {
      for (const [k, v] of dirents) records.put("dirents", k, v.subarray(0, 8));
    });
    assert.deepEqual(listed(), want);
  },
);
