/**
 * Snapshots cost what changed in metadata too: a snapshot that changes one file in a
 * 300-file tree adds at most 512 bytes of tree pages on average over a long history
 * (older versions of directory pages are stored as deltas on newer ones), and every
 * revision still reads exactly as it was. Files of 2,000 bytes live in their directory
 * pages (inline); files of 6,000 bytes are one block each, whose map is no page at all.
 */
import assert from "node:assert/strict";
import { fileChunks, type Ino, type PageHash, type RevNumber, ROOT_INO } from "../mod.ts";
import { concatBytes, Rng, sha256Hex, storeTest } from "./helpers.ts";

for (const size of [2000, 6000]) {
  storeTest(
    `page deltas: one file of ${size} bytes changed per snapshot in a 300-file tree adds under 512 bytes of pages`,
    (ts) => {
      const { store } = ts;
      const rng = new Rng(3);
      const node = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };
      const files: { ino: Ino; path: string; data: Uint8Array }[] = [];
      for (let d = 0; d < 20; d++) {
        const dir = store.head.create(ROOT_INO, `dir${d}`, { ...node, type: "dir", mode: 0o755 }).ino;
        for (let f = 0; f < 15; f++) {
          const data = rng.bytes(size, "text");
          const ino = store.head.create(dir, `file${f}.txt`, { ...node, type: "file" }).ino;
          store.head.write(ino, 0, data);
          files.push({ ino, path: `dir${d}/file${f}.txt`, data });
        }
      }
      store.snapshot();
      const before = store.stats().pageBytes;
      const snapshots = 200;
      const expect = new Map<RevNumber, [string, string]>();
      for (let i = 0; i < snapshots; i++) {
        const f = rng.pick(files);
        const at = rng.int(size - 300);
        const bytes = rng.bytes(300, "text");
        store.head.write(f.ino, at, bytes);
        f.data.set(bytes, at);
        const rev = store.snapshot().rev;
        expect.set(rev, [f.path, sha256Hex(f.data)]);
      }
      const perSnapshot = (store.stats().pageBytes - before) / snapshots;
      console.log(`  ${size}-byte files: ${perSnapshot.toFixed(0)} bytes of pages per snapshot`);
      assert.ok(perSnapshot <= 512, `${perSnapshot.toFixed(0)} bytes of pages per snapshot`);
      const mapPages = [...store.parts.records.keys("pages")].filter((h) =>
        store.parts.pages.get(h as PageHash).kind.startsWith("bm")
      );
      assert.equal(mapPages.length, 0, "a file of one block needs no block map page");
      // Each revision holds the version its snapshot took, read through the page chains.
      for (const [rev, [path, sha]] of expect) {
        assert.equal(
          sha256Hex(concatBytes(fileChunks(store.view(rev), path, store.blockSize))),
          sha,
          `${path} in ${rev}`,
        );
      }
    },
  );
}
