/**
 * A random history that mixes every way programs save files (in place, truncate and
 * write, new file renamed over, unlink and create, rename then edit, a directory
 * removed and made again), against a model of every revision. Every revision is
 * compared byte for byte after each snapshot, after `optimize`, after `drop` + `gc`
 * (which compacts), and after reopening; verify checks the chain bounds throughout.
 */
import assert from "node:assert/strict";
import { compactStore, type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { checkStoreInvariants, concatBytes, filesOf, Rng, sha256Hex, storeTest } from "./helpers.ts";

type Tree = Map<string, Uint8Array>;
const node = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n };
const DIRS = ["a", "b", "c"];

function snapshotOf(tree: Tree): Map<string, string> {
  return new Map([...tree].map(([p, d]) => [p, sha256Hex(d)]));
}

function checkAll(store: Store, history: Map<RevNumber, Map<string, string>>, when: string): void {
  for (const [rev, want] of history) assert.deepEqual(filesOf(store, rev), want, `revision ${rev} ${when}`);
}

for (const seed of [1, 2, 3]) {
  storeTest(
    `history model: every save pattern, every revision exact through optimize, drop + gc and reopening (seed ${seed})`,
    async (ts) => {
      let store = ts.store;
      const rng = new Rng(seed);
      const tree: Tree = new Map();
      const dirIno = (d: string): Ino => store.head.lookup(ROOT_INO, d)!;
      const fileIno = (path: string): Ino => {
        const [d, n] = path.split("/");
        return store.head.lookup(dirIno(d), n)!;
      };
      const create = (path: string, data: Uint8Array) => {
        const [d, n] = path.split("/");
        store.head.write(store.head.create(dirIno(d), n, { ...node, type: "file" }).ino, 0, data);
      };
      const edited = (old: Uint8Array): Uint8Array => {
        const next = old.slice();
        const n = 1 + rng.int(3);
        for (let k = 0; k < n && next.length > 600; k++) next.set(rng.bytes(500, "text"), rng.int(next.length - 500));
        return rng.chance(0.2) ? concatBytes([next, rng.bytes(rng.int(70_000), "text")]) : next;
      };
      for (const d of DIRS) store.head.create(ROOT_INO, d, { ...node, type: "dir", mode: 0o755 });
      for (let i = 0; i < 12; i++) {
        const path = `${rng.pick(DIRS)}/f${i}`;
        const data = rng.bytes(1000 + rng.int(200_000), rng.chance(0.5) ? "text" : "binary");
        create(path, data);
        tree.set(path, data);
      }
      const history = new Map<RevNumber, Map<string, string>>();
      history.set(store.snapshot().rev, snapshotOf(tree));
      const patterns = new Map<string, number>();
      for (let step = 0; step < 40; step++) {
        for (let k = 1 + rng.int(3); k > 0; k--) {
          const paths = [...tree.keys()];
          const path = rng.pick(paths);
          const [d, n] = path.split("/");
          const next = edited(tree.get(path)!);
          const pattern = rng.pick([
            "in place",
            "truncate",
            "rename over",
            "unlink + create",
            "rename + edit",
            "dir again",
          ]);
          patterns.set(pattern, (patterns.get(pattern) ?? 0) + 1);
          switch (pattern) {
            case "in place":
              store.head.write(fileIno(path), 0, next);
              break;
            case "truncate":
              store.head.setattr(fileIno(path), { size: 0 });
              store.head.write(fileIno(path), 0, next);
              break;
            case "rename over":
              create(`${d}/${n}.tmp`, next);
              store.head.rename(dirIno(d), `${n}.tmp`, dirIno(d), n);
              break;
            case "unlink + create":
              store.head.remove(dirIno(d), n, false);
              create(path, next);
              break;
            case "rename + edit": {
              const to = `${rng.pick(DIRS)}/${n}r${step}`;
              const [td, tn] = to.split("/");
              store.head.rename(dirIno(d), n, dirIno(td), tn);
              store.head.write(fileIno(to), 0, next);
              tree.delete(path);
              tree.set(to, next);
              continue;
            }
            case "dir again": {
              // Every file of the directory extracted again, this one changed.
              const files = [...tree].filter(([p]) => p.startsWith(`${d}/`));
              for (const [p] of files) store.head.remove(dirIno(d), p.split("/")[1], false);
              store.head.remove(ROOT_INO, d, true);
              store.head.create(ROOT_INO, d, { ...node, type: "dir", mode: 0o755 });
              for (const [p, data] of files) create(p, p === path ? next : data);
              break;
            }
          }
          tree.set(path, next);
        }
        history.set(store.snapshot().rev, snapshotOf(tree));
        if (step % 10 === 9) checkAll(store, history, `after step ${step}`);
      }
      assert.equal(patterns.size, 6, `patterns not all used: ${[...patterns.keys()]}`);
      checkAll(store, history, "after the history");
      assert.ok(store.stats().deltaRecords > 20, `only ${store.stats().deltaRecords} deltas`);
      checkStoreInvariants(store);

      store.optimize();
      checkAll(store, history, "after optimize");

      const revs = [...history.keys()];
      for (const rev of revs.filter(() => rng.chance(0.3)).slice(0, 12)) {
        store.drop(rev);
        history.delete(rev);
      }
      store.gc();
      checkAll(store, history, "after drop + gc");
      checkStoreInvariants(store);

      await store.close();
      assert.ok((await compactStore(`${ts.dir}/store`)).compacted);
      store = await Store.open(`${ts.dir}/store`, { write: true });
      ts.store = store;
      checkAll(store, history, "after compaction and reopening");
    },
  );
}
