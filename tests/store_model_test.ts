/**
 * Model-based history test: a random tree edited over 55 revisions through import;
 * every revision exported and compared byte-for-byte and by metadata with what the
 * directory held when it was imported; then drop + gc, and everything again.
 */
import assert from "node:assert/strict";
import { fileChunks, type RevNumber } from "../mod.ts";
import { Store } from "../store/store.ts";
import { checkStoreInvariants, concatBytes, Rng, sha256Hex, storeTest } from "./helpers.ts";
import { captureTree, compareTrees, randomEdit, seedTree, type TreeState } from "./tree_model.ts";

const REVISIONS = 55;

async function checkRevision(store: Store, rev: RevNumber, want: TreeState, scratch: string): Promise<void> {
  const out = `${scratch}/export-${rev}-${crypto.randomUUID().slice(0, 6)}`;
  await store.exportTree(rev, out);
  const problems = compareTrees(want, captureTree(out));
  await Deno.remove(out, { recursive: true });
  assert.deepEqual(problems, [], `revision ${rev} differs from the model`);
}

storeTest(
  "store: 55 random revisions export exactly as the model held them, before and after drop+gc",
  async (ts, t) => {
    const rng = new Rng(20261121);
    const work = `${ts.dir}/work`;
    Deno.mkdirSync(work);
    seedTree(rng, work);
    const history = new Map<RevNumber, TreeState>();
    const kinds = new Map<string, number>();
    const dropped = new Set<RevNumber>();
    for (let i = 0; i < REVISIONS; i++) {
      if (i > 0) {
        for (let k = 1 + rng.int(5); k > 0; k--) {
          const kind = randomEdit(rng, work);
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
      }
      const rev = await ts.store.importDir(work, `edit ${i}`);
      history.set(rev.rev, captureTree(work));
      // The head now equals the directory; reading it back by path must agree.
      if (i % 10 === 0) {
        for (const [path, n] of history.get(rev.rev)!) {
          if (n.type !== "file") continue;
          const bytes = concatBytes([...fileChunks(ts.store.view("head"), path, ts.store.blockSize)]);
          assert.equal(sha256Hex(bytes), n.sha, `head ${path}`);
        }
      }
    }
    // Every kind of edit the model knows must have happened at least once.
    for (const k of ["small-edit", "append", "truncate", "rename", "delete", "identical-rewrite", "create"]) {
      assert.ok((kinds.get(k) ?? 0) > 0, `edit kind ${k} never ran`);
    }

    await t.step("every revision matches the model", async () => {
      for (const [rev, state] of history) await checkRevision(ts.store, rev, state, ts.dir);
    });

    await t.step("drop + gc shrinks the store and leaves the other revisions identical", async () => {
      const before = ts.store.stats();
      const revs = [...history.keys()];
      while (dropped.size < 20) dropped.add(rng.pick(revs));
      for (const r of dropped) ts.store.drop(r);
      const gc = ts.store.gc();
      const after = ts.store.stats();
      assert.ok(gc.blocksRemoved > 0, "gc removed no block");
      assert.ok(after.storedBytes < before.storedBytes, `storedBytes ${before.storedBytes} -> ${after.storedBytes}`);
      assert.equal(after.revisions, before.revisions - dropped.size);
      for (const [rev, state] of history) {
        if (dropped.has(rev)) {
          assert.throws(() => ts.store.view(rev), /unknown revision/);
        } else await checkRevision(ts.store, rev, state, ts.dir);
      }
      checkStoreInvariants(ts.store);
      // A second gc finds nothing more: the first removed exactly the garbage.
      assert.equal(ts.store.gc().blocksRemoved, 0);
    });

    await t.step("the store reopens with the same history", async () => {
      await ts.store.close();
      const reopened = await Store.open(`${ts.dir}/store`);
      try {
        const last = [...history.keys()].filter((r) => !dropped.has(r)).at(-1)!;
        await checkRevision(reopened, last, history.get(last)!, ts.dir);
      } finally {
        await reopened.close();
      }
    });
  },
);
