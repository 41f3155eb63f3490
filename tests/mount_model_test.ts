/**
 * The mount against a reference model: the same random file operations go through a
 * real mount and into a plain temp directory, with snapshots at random points. Every
 * snapshot must then read back, through `.snapshots/REV` and through `cat --rev`,
 * exactly as the model was when it was taken. A small cache budget makes the mount
 * write out under memory pressure and evict as it goes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { askMount } from "../fs/control_client.ts";
import { Rng, runCli, sha256Hex } from "./helpers.ts";
import { mountTestDir, withMount } from "./mount_helpers.ts";
import { captureTree, compareTrees, randomEdit, seedTree, type TreeState, withoutTimes } from "./tree_model.ts";

const EDITS = 70;

function problemsOf(want: TreeState, got: TreeState, what: string): void {
  const problems = compareTrees(withoutTimes(want), withoutTimes(got));
  assert.deepEqual(problems, [], `${what}:\n${problems.slice(0, 20).join("\n")}`);
}

async function snapshotNow(store: string, message: string): Promise<number> {
  const reply = await askMount(store, { op: "snapshot", message });
  assert.ok(reply?.ok && "rev" in reply, `snapshot failed: ${JSON.stringify(reply)}`);
  return reply.rev;
}

Deno.test("mount model: random operations through the mount match a temp dir, in every snapshot", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-mount-model-");
  const model = `${dir}/model`;
  await Deno.mkdir(model);
  const rng = new Rng(4242);
  seedTree(rng, model, 25);
  const history = new Map<number, TreeState>();
  try {
    await withMount(store, mnt, async () => {
      const cp = await new Deno.Command("cp", { args: ["-a", `${model}/.`, mnt] }).output();
      assert.equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
      history.set(await snapshotNow(store, "seed"), captureTree(model));
      const kinds: string[] = [];
      for (let i = 0; i < EDITS; i++) {
        kinds.push(randomEdit(rng, [model, mnt]));
        if (rng.chance(0.1)) {
          // fsync a file: its writes go out of the cache now.
          const files = [...captureTree(model)].filter(([, n]) => n.type === "file").map(([p]) => p);
          if (files.length) {
            const f = Deno.openSync(join(mnt, rng.pick(files)), { read: true, write: true });
            f.syncSync();
            f.close();
          }
        }
        if (rng.chance(0.15)) {
          const rev = await snapshotNow(store, `after edit ${i}`);
          const want = captureTree(model);
          history.set(rev, want);
          problemsOf(want, captureTree(`${mnt}/.snapshots/${rev}`), `.snapshots/${rev} right after it was taken`);
        }
      }
      history.set(await snapshotNow(store, "last"), captureTree(model));
      problemsOf(captureTree(model), captureTree(mnt, [".snapshots"]), "head");

      // Later writes never reach earlier snapshots (copy before first write).
      for (const [rev, want] of history) {
        problemsOf(want, captureTree(`${mnt}/.snapshots/${rev}`), `.snapshots/${rev} at the end`);
      }
      // Through the command line, while mounted: a few files of every revision.
      for (const [rev, want] of history) {
        const files = [...want].filter(([, n]) => n.type === "file");
        for (let k = 0; k < 2 && files.length; k++) {
          const [path, node] = rng.pick(files);
          const r = await runCli("cat", store, path, "--rev", String(rev));
          assert.equal(r.code, 0, r.stderr);
          assert.equal(sha256Hex(r.stdoutBytes), node.sha, `cat --rev ${rev} ${path}`);
        }
      }
      const status = await askMount(store, { op: "status" });
      assert.ok(status?.ok && "status" in status);
      const c = status.status.cache;
      assert.ok(c.cachedBytes + c.dirtyBytes <= c.budgetBytes, JSON.stringify(c));
      assert.ok(c.writeouts > 0 && c.misses > 0, JSON.stringify(c));
      console.log(`  edits: ${kinds.length}, snapshots: ${history.size}, cache: ${JSON.stringify(c)}`);
    }, ["--cache-mb", "1"]);
    const verify = await runCli("verify", store);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
