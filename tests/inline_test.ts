/**
 * Small files kept inline in their directory pages (store/head/snapshot.ts, INLINE_MAX):
 * they cost no record of their own, zstd compresses them with their neighbours, and every
 * way a file can change (grow past the limit, shrink under it, move, be unlinked while
 * open, be restored) reads back exactly, in the head and in every revision.
 */
import assert from "node:assert/strict";
import { compactStore, type FileInode, type RevNumber, ROOT_INO } from "../mod.ts";
import { INLINE_MAX } from "../store/head/snapshot.ts";
import { Store } from "../store/store.ts";
import { everyRevision, filesOf, readHead, Rng, sha256Hex, storeTest, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

/** A JSON document of about `bytes` bytes, like a package's config or a fixture. */
function jsonDoc(rng: Rng, bytes: number): Uint8Array {
  const words = ["name", "version", "id", "enabled", "count", "items", "label", "owner", "created", "tags"];
  const obj: Record<string, unknown> = {};
  while (JSON.stringify(obj, null, 2).length < bytes - 40) {
    const k = words[rng.int(words.length)] + rng.int(50);
    obj[k] = rng.chance(0.3) ? `v${rng.int(100000)}` : rng.chance(0.5) ? rng.int(1e6) : rng.chance(0.5);
  }
  return new TextEncoder().encode(JSON.stringify(obj, null, 2) + "\n");
}

storeTest(
  "inline: 3,000 JSON files of ~300 bytes store in at most half their size, imported or written",
  async (ts) => {
    const rng = new Rng(30);
    const src = await tempDir();
    try {
      let logical = 0;
      const want = new Map<string, string>();
      for (let d = 0; d < 30; d++) {
        await Deno.mkdir(`${src}/pkg${d}`);
        for (let f = 0; f < 100; f++) {
          const doc = jsonDoc(rng, 300);
          logical += doc.length;
          await Deno.writeFile(`${src}/pkg${d}/f${f}.json`, doc);
          want.set(`pkg${d}/f${f}.json`, sha256Hex(doc));
        }
      }
      const rev = await ts.store.importDir(src, "3,000 small files");
      assert.deepEqual(filesOf(ts.store, rev.rev), want);
      const s = ts.store.stats();
      assert.equal(s.uniqueBlocks, 0, "small files were stored as blocks");
      assert.equal(s.inlineBytes, logical, "stats counts every small file once, inline");
      assert.ok(s.storedBytes <= logical / 2, `${s.storedBytes} bytes stored for ${logical} of files`);
      // Import wrote them into their pages only: no blocks stored and freed on the way.
      assert.ok(s.freeBytes <= 256 << 10, `import left ${s.freeBytes} bytes of free pages`);
      // The head reads them from their directory pages.
      const ino = ts.store.head.lookup(ts.store.head.lookup(ROOT_INO, "pkg7")!, "f42.json")!;
      const f = ts.store.head.inode(ino) as FileInode;
      assert.ok(f.inline);
      assert.equal(sha256Hex(readHead(ts.store, ino, 0, f.size)), want.get("pkg7/f42.json"));
    } finally {
      await Deno.remove(src, { recursive: true });
    }
  },
);

storeTest("inline: small files through every change match a model, in the head and every revision", async (ts) => {
  const { store } = ts;
  const rng = new Rng(31);
  const node = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };
  const dirs = ["a", "b", "c"].map((n) => store.head.create(ROOT_INO, n, { type: "dir", ...node, mode: 0o755 }).ino);
  /** path -> content, as the head should hold it. */
  const model = new Map<string, Uint8Array>();
  const revisions: Map<string, string>[] = [];
  const hashes = (m: Map<string, Uint8Array>) => new Map([...m].map(([p, d]) => [p, sha256Hex(d)]));
  const dirOf = (path: string) => dirs[["a", "b", "c"].indexOf(path.split("/")[0])];
  const nameOf = (path: string) => path.split("/")[1];
  const inoOf = (path: string) => store.head.lookup(dirOf(path), nameOf(path))!;
  const size = () => rng.chance(0.8) ? rng.int(INLINE_MAX + 1) : INLINE_MAX + 1 + rng.int(100_000);
  const used = new Set<string>();
  let mostInline = 0;

  for (let step = 0; step < 400; step++) {
    const paths = [...model.keys()];
    const path = paths.length > 0 ? rng.pick(paths) : "";
    const op = paths.length < 8 ? 0 : rng.int(9);
    if (op === 0) { // create
      const p = `${rng.pick(["a", "b", "c"])}/f${rng.int(40)}`;
      if (model.has(p)) continue;
      const data = rng.bytes(size(), "text");
      store.head.write(store.head.create(dirOf(p), nameOf(p), { type: "file", ...node }).ino, 0, data);
      model.set(p, data);
      used.add("create");
    } else if (op === 1) { // patch in place
      const old = model.get(path)!;
      if (old.length === 0) continue;
      const at = rng.int(old.length);
      const patch = rng.bytes(1 + rng.int(200), "text");
      const next = new Uint8Array(Math.max(old.length, at + patch.length));
      next.set(old);
      next.set(patch, at);
      store.head.write(inoOf(path), at, patch);
      model.set(path, next);
      used.add("patch");
    } else if (op === 2) { // grow past the limit, or shrink under it
      const old = model.get(path)!;
      const to = old.length <= INLINE_MAX ? INLINE_MAX + 1 + rng.int(70_000) : rng.int(INLINE_MAX);
      store.head.setattr(inoOf(path), { size: to });
      const next = new Uint8Array(to);
      next.set(old.subarray(0, to));
      model.set(path, next);
      used.add("resize");
    } else if (op === 3 || op === 4) { // rename within its directory or to another, maybe over a file
      const to = `${op === 3 ? path.split("/")[0] : rng.pick(["a", "b", "c"])}/f${rng.int(40)}`;
      if (to === path) continue;
      store.head.rename(dirOf(path), nameOf(path), dirOf(to), nameOf(to));
      model.set(to, model.get(path)!);
      model.delete(path);
      used.add(op === 3 ? "rename" : "move");
    } else if (op === 5) { // unlinked while open, read by inode, then closed
      const ino = inoOf(path);
      store.head.pin(ino);
      store.head.remove(dirOf(path), nameOf(path), false);
      const f = store.head.inode(ino) as FileInode;
      assert.deepEqual(readHead(store, ino, 0, f.size), model.get(path), `${path} open after unlink`);
      store.head.unpin(ino);
      model.delete(path);
      used.add("unlink open");
    } else if (op === 6 && revisions.length > 0) { // restore a file from an older revision
      const rev = 1 + rng.int(revisions.length);
      const old = store.revisionTree(rev as RevNumber);
      const p = rng.pick([...revisions[rev - 1].keys()]);
      store.restore(p, rev as RevNumber);
      model.set(p, readFrom(store, old, p));
      used.add("restore file");
    } else if (op === 7 && revisions.length > 0) { // restore a whole directory
      const rev = 1 + rng.int(revisions.length);
      const d = rng.pick(["a", "b", "c"]);
      store.restore(d, rev as RevNumber);
      for (const p of [...model.keys()]) if (p.startsWith(`${d}/`)) model.delete(p);
      for (const [p] of revisions[rev - 1]) {
        if (p.startsWith(`${d}/`)) model.set(p, readFrom(store, store.revisionTree(rev as RevNumber), p));
      }
      dirs[["a", "b", "c"].indexOf(d)] = store.head.lookup(ROOT_INO, d)!;
      used.add("restore dir");
    } else {
      store.snapshot();
      revisions.push(hashes(model));
      const inline = [...model.keys()].filter((p) => (store.head.inode(inoOf(p)) as FileInode).inline).length;
      mostInline = Math.max(mostInline, inline);
      assert.deepEqual(
        everyRevision(store),
        new Map(revisions.flatMap((r, i) => [...r].map(([p, h]) => [`${i + 1}:${p}`, h]))),
      );
      used.add("snapshot");
    }
    for (const [p, data] of model) {
      const ino = inoOf(p);
      assert.deepEqual(readHead(store, ino, 0, data.length), data, `${p} in the head after step ${step}`);
    }
  }
  assert.equal(used.size, 9, `not every change was made: ${[...used]}`);
  assert.ok(mostInline >= 5, `at most ${mostInline} files were kept inline at a snapshot`);

  store.optimize();
  store.gc();
  const all = everyRevision(store);
  await store.close();
  assert.ok((await compactStore(`${ts.dir}/store`)).compacted);
  const again = await Store.open(`${ts.dir}/store`);
  try {
    assert.deepEqual(everyRevision(again), all);
  } finally {
    await again.close();
  }
});

function readFrom(store: Store, view: ReturnType<Store["revisionTree"]>, path: string): Uint8Array {
  const e = view.entry(path);
  if (e.type !== "file") throw new Error(`${path} is not a file`);
  if (e.inline) return e.inline.slice();
  const out = new Uint8Array(e.size);
  for (const [idx, data] of view.blocks(path)) {
    out.set(data.subarray(0, e.size - idx * store.blockSize), idx * store.blockSize);
  }
  return out;
}

storeTest("inline: a directory of 64 incompressible small files keeps its history as page deltas", (ts) => {
  const { store } = ts;
  const rng = new Rng(32);
  const node = { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n } as const;
  const inos: number[] = [];
  for (let i = 0; i < 64; i++) {
    const ino = store.head.create(ROOT_INO, `icon${i}.png`, node).ino;
    store.head.write(ino, 0, rng.bytes(INLINE_MAX));
    inos.push(ino);
  }
  store.snapshot();
  const before = store.stats().storedBytes;
  for (let r = 0; r < 20; r++) {
    store.head.write(rng.pick(inos) as never, rng.int(INLINE_MAX - 100), rng.bytes(100));
    store.snapshot();
  }
  // The page is 128 KiB that zstd cannot shrink: stored whole each time, 20 versions would
  // be 2.6 MB. As deltas they cost a few hundred bytes each, and one version in 17 is
  // whole (the chain bound: 16 deltas above a whole page).
  const perSnapshot = (store.stats().storedBytes - before) / 20;
  assert.ok(perSnapshot < 16_384, `${perSnapshot} bytes per snapshot for 100 bytes changed`);
});

Deno.test("inline: small files through a mount: edits, a save by rename, an open unlinked file, and .snapshots", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`;
    await withMount(`${dir}/store`, mnt, async () => {
      const script = [
        `mkdir -p ${mnt}/src/a ${mnt}/src/b`,
        `for i in $(seq 1 50); do echo "file $i" > ${mnt}/src/a/f$i.txt; done`,
        `printf 'first\\n' > ${mnt}/src/b/notes.txt`,
      ].join(" && ");
      assert.equal((await sh(script)).code, 0);
      const rev1 = (await sh(`deno run -A ${new URL("../cli.ts", import.meta.url).pathname} snapshot ${mnt}`)).stdout
        .trim();
      // A save by rename, a file grown past the limit, one moved to another directory.
      const edits = [
        `printf 'second\\n' > ${mnt}/src/b/notes.txt.tmp && mv ${mnt}/src/b/notes.txt.tmp ${mnt}/src/b/notes.txt`,
        `head -c 100000 /dev/zero | tr '\\0' x >> ${mnt}/src/a/f1.txt`,
        `mv ${mnt}/src/a/f2.txt ${mnt}/src/b/f2.txt`,
      ].join(" && ");
      assert.equal((await sh(edits)).code, 0);
      // An open file unlinked keeps its bytes (bash holds fd 3 on it).
      const open = await sh(`exec 3< ${mnt}/src/a/f3.txt && rm ${mnt}/src/a/f3.txt && cat <&3`);
      assert.equal(open.stdout, "file 3\n");
      assert.equal((await sh(`cat ${mnt}/src/b/notes.txt ${mnt}/src/b/f2.txt`)).stdout, "second\nfile 2\n");
      assert.equal((await sh(`wc -c < ${mnt}/src/a/f1.txt`)).stdout.trim(), "100007");
      assert.equal(
        (await sh(`cat ${mnt}/.snapshots/${rev1}/src/b/notes.txt ${mnt}/.snapshots/${rev1}/src/a/f3.txt`)).stdout,
        "first\nfile 3\n",
      );
      const rev2 = (await sh(`deno run -A ${new URL("../cli.ts", import.meta.url).pathname} snapshot ${mnt}`)).stdout
        .trim();
      assert.equal((await sh(`cat ${mnt}/.snapshots/${rev2}/src/b/notes.txt`)).stdout, "second\n");
      assert.equal((await sh(`ls ${mnt}/.snapshots/${rev2}/src/a | wc -l`)).stdout.trim(), "48");
      assert.equal((await sh(`cat ${mnt}/.snapshots/${rev1}/src/a/f1.txt`)).stdout, "file 1\n");
      const diff = await sh(`diff -r ${mnt}/src ${mnt}/.snapshots/${rev2}/src && echo same`);
      assert.equal(diff.stdout, "same\n", diff.stderr);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
