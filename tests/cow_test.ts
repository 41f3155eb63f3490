/**
 * Copy-on-write cost and dedup, counted in records written: a snapshot must cost
 * O(what changed), never O(tree size) or O(file size).
 */
import assert from "node:assert/strict";
import { type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { Rng, storeTest } from "./helpers.ts";

storeTest("cow: one file changed in a directory of 20,000 entries writes a handful of pages", (ts) => {
  const { store } = ts;
  const h = store.head;
  const inos: Ino[] = [];
  store.parts.records.write(() => {
    for (let i = 0; i < 20_000; i++) {
      inos.push(h.create(ROOT_INO, `file-${i}.txt`, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino);
    }
  });
  store.snapshot("big directory");
  const pagesBefore = store.parts.pages.written;
  h.write(inos[12345], 0, new TextEncoder().encode("changed"));
  const rev = store.snapshot("one file");
  const written = store.parts.pages.written - pagesBefore;
  // One directory leaf (the 7-byte file is inside it) and its inner ancestors; a file
  // of one block would add no page either (its entry names the block).
  assert.ok(written <= 4, `a one-file change wrote ${written} pages`);
  assert.equal(store.view(rev.rev).list("").length, 20_000);
  assert.deepEqual(store.diff((rev.rev - 1) as RevNumber, rev.rev).map((c) => c.path), ["file-12345.txt"]);
});

storeTest("cow: one block changed in a 10 GiB sparse file writes two pages and one block", (ts) => {
  const { store } = ts;
  const h = store.head;
  const f = h.create(ROOT_INO, "huge.img", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
  const rng = new Rng(3);
  // A 10 GiB file with one written block every 64 MiB: the map spans the whole file.
  h.setattr(f, { size: 10 * 2 ** 30 });
  for (let off = 0; off < 10 * 2 ** 30; off += 64 * 2 ** 20) h.write(f, off, rng.bytes(65536));
  store.snapshot("sparse");
  const pagesBefore = store.parts.pages.written;
  const blocksBefore = store.parts.blocks.written;
  h.write(f, 5 * 2 ** 30 + 4096, rng.bytes(100));
  const rev = store.snapshot("one block");
  assert.equal(store.parts.blocks.written - blocksBefore, 1);
  const pages = store.parts.pages.written - pagesBefore;
  // Leaf + root of the block map, plus the root directory page.
  assert.ok(pages <= 3, `a one-block change wrote ${pages} pages`);
  assert.equal(store.view(rev.rev).stat("huge.img").size, 10 * 2 ** 30);
});

storeTest("dedup: the same content twice costs one set of blocks; zeros cost nothing", async (ts) => {
  const { store } = ts;
  const src = `${ts.dir}/src`;
  await Deno.mkdir(`${src}/copy`, { recursive: true });
  const data = new Rng(5).bytes(1_000_000);
  await Deno.writeFile(`${src}/one.bin`, data);
  await Deno.writeFile(`${src}/copy/two.bin`, data);
  await Deno.writeFile(`${src}/zeros.bin`, new Uint8Array(5_000_000));
  await store.importDir(src, "");
  const blocks = Math.ceil(1_000_000 / store.blockSize);
  assert.equal(store.stats().uniqueBlocks, blocks, "two copies and a zero file store one copy's blocks");
  const stored = store.stats().storedBytes;
  assert.ok(stored < 1_000_000 * 1.05, `stored ${stored} bytes for 1 MB of unique data`);
  // An identical re-import stores no block and no file page.
  const blocksBefore = store.parts.blocks.written;
  await store.importDir(src, "again");
  assert.equal(store.parts.blocks.written, blocksBefore);
});
