/**
 * Files that leave their path (store/head/moved_files.ts): a tree restructured between
 * two imports, as a checkout of a commit that moves modules does. The moved files'
 * old versions become deltas on their successors; a file moved unchanged, and the
 * head's blocks, stay whole; a deleted file with no successor stays whole; every
 * revision reads back exactly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { everyRevision, Rng, sha256Hex, storeTest } from "./helpers.ts";
import { deltaBaseOf } from "../store/blocks/block_codec.ts";
import type { BlockHash, FileEntry } from "../mod.ts";

/** A source-like file: text, 4-40 KiB. */
function source(rng: Rng): Uint8Array {
  return rng.bytes(4096 + rng.int(36 * 1024), "text");
}

/** Rewrites a few short runs: a small edit. */
function edit(rng: Rng, data: Uint8Array): Uint8Array {
  const out = data.slice();
  for (let k = 0; k < 3; k++) out.set(rng.bytes(40, "text"), rng.int(out.length - 40));
  return out;
}

async function writeTree(root: string, files: Map<string, Uint8Array>): Promise<void> {
  await Deno.remove(root, { recursive: true }).catch(() => {});
  for (const [path, data] of files) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeFile(join(root, path), data);
  }
}

storeTest(
  "moved files: old versions become deltas on their successors elsewhere; what the head holds stays whole",
  async (ts) => {
    const { store } = ts;
    const rng = new Rng(83);
    const v1 = new Map<string, Uint8Array>();
    for (let i = 0; i < 12; i++) v1.set(`src/module${i}.ts`, source(rng));
    v1.set("src/unchanged.ts", source(rng));
    v1.set("src/gone.bin", rng.bytes(20_000));
    const tree = join(ts.dir, "tree");
    await writeTree(tree, v1);
    const r1 = await store.importDir(tree, "v1");
    const before = store.stats();

    // v2: every module moves into src/core/ (edited, or split under a new name), one file
    // moves unchanged, one is deleted with nothing like it added.
    const v2 = new Map<string, Uint8Array>();
    let edited = 0;
    for (let i = 0; i < 12; i++) {
      const old = v1.get(`src/module${i}.ts`)!;
      const name = i % 3 === 0 ? `src/core/part${i}.ts` : `src/core/module${i}.ts`;
      v2.set(name, edit(rng, old));
      edited += old.length;
    }
    v2.set("src/core/unchanged.ts", v1.get("src/unchanged.ts")!);
    await writeTree(tree, v2);
    const r2 = await store.importDir(tree, "v2");
    const after = store.stats();

    // Without deltas the moved modules' old versions would stay whole: about as much as
    // they compress to. With them, a small fraction.
    const growth = after.storedBytes - before.storedBytes;
    assert.ok(
      after.deltaRecords - before.deltaRecords >= 12,
      `only ${after.deltaRecords - before.deltaRecords} delta records for 12 moved files`,
    );
    assert.ok(growth < edited / 20, `the store grew ${growth} bytes for ${edited} bytes of moved, edited files`);

    const record = (h: BlockHash) => store.parts.records.get("blocks", h)!;
    const blockOf = (rev: typeof r1, path: string) => {
      const e = store.revisionTree(rev.rev).entry(path) as FileEntry;
      return store.entryBlock(e, 0)!;
    };
    assert.ok(deltaBaseOf(record(blockOf(r1, "src/module1.ts"))), "a moved, edited file's old version is a delta");
    assert.ok(deltaBaseOf(record(blockOf(r1, "src/module3.ts"))), "... also when it was renamed (part3.ts)");
    assert.equal(deltaBaseOf(record(blockOf(r1, "src/gone.bin"))), undefined, "a deleted file without successor");
    assert.equal(deltaBaseOf(record(blockOf(r2, "src/core/unchanged.ts"))), undefined, "a file moved unchanged");
    for (const path of v2.keys()) {
      assert.equal(deltaBaseOf(record(blockOf(r2, path))), undefined, `the head's ${path} reads whole`);
    }

    // Every file of both revisions reads back as it was.
    const all = everyRevision(store);
    for (const [rev, files] of [[r1, v1], [r2, v2]] as const) {
      for (const [path, data] of files) {
        assert.equal(
          all.get(`${rev.rev}:${path}`),
          sha256Hex(data),
          `${rev.rev}:${path}`,
        );
      }
    }
  },
);
