/**
 * Differential conformance: the same system calls (tests/conformance/driver.py) on a
 * directory of the local disk and on a revfs mount must give the same results, errno
 * for errno and stat field for stat field: as root, and as an unprivileged user
 * against root's files (default_permissions, the sticky bit).
 */
import assert from "node:assert/strict";
import { runCli, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

const DRIVER = new URL("./conformance/driver.py", import.meta.url).pathname;
/** The unprivileged user: nobody. Its python must be the system's, which it can run. */
const AS_USER = "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3";

async function calls(root: string, groups: string[], asUser = false): Promise<string[]> {
  const driver = `${root}/../driver.py`;
  const r = await sh(`${asUser ? AS_USER : "python3"} ${driver} ${root} ${groups.join(" ")}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n");
}

/** The lines that differ, each as "call: local | mount". */
function differences(local: string[], mount: string[]): string[] {
  assert.equal(mount.length, local.length, "the same number of calls");
  return local.flatMap((l, i) => (l === mount[i] ? [] : [`${l}  |  mount: ${mount[i]}`]));
}

Deno.test("conformance: system calls and their errors on the mount match the local disk, as root and as a user", async () => {
  const dir = await tempDir("revfs-conformance-");
  try {
    // Others must reach the directories for the unprivileged run.
    await Deno.chmod(dir, 0o755);
    await Deno.copyFile(DRIVER, `${dir}/driver.py`);
    await Deno.chmod(`${dir}/driver.py`, 0o644);
    const local = `${dir}/local`, mnt = `${dir}/mnt`;
    await Deno.mkdir(local, { mode: 0o755 });
    await Deno.chmod(local, 0o755);
    const asRoot = await calls(local, []);
    await calls(local, ["perms_setup"]);
    const asUser = await calls(local, ["perms"], true);
    assert.ok(asRoot.length > 60 && asUser.length > 20, "the driver made its calls");
    await withMount(`${dir}/store`, mnt, async () => {
      await Deno.chmod(mnt, 0o755);
      assert.deepEqual(differences(asRoot, await calls(mnt, [])), [], "as root");
      await calls(mnt, ["perms_setup"]);
      assert.deepEqual(differences(asUser, await calls(mnt, ["perms"], true)), [], "as an unprivileged user");
    }, ["--allow-other", "--xattrs"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const RANDOM_OPS = new URL("./conformance/random_ops.py", import.meta.url).pathname;

Deno.test("conformance: thousands of random calls give the local disk's results, and each snapshot holds its checkpoint", async () => {
  const dir = await tempDir("revfs-conformance-random-");
  try {
    const mnt = `${dir}/mnt`;
    const seeds = [1, 2, 3], calls = 1000, every = 250;
    const cli = new URL("../cli.ts", import.meta.url).pathname;
    const local = new Map<number, string[]>();
    for (const seed of seeds) {
      await Deno.mkdir(`${dir}/local-${seed}`);
      const r = await sh(`python3 ${RANDOM_OPS} ${dir}/local-${seed} ${seed} ${calls} ${every}`);
      assert.equal(r.code, 0, r.stderr);
      local.set(seed, r.stdout.trim().split("\n"));
    }
    await withMount(`${dir}/store`, mnt, async () => {
      let rev = 0;
      for (const seed of seeds) {
        const root = `${mnt}/seed-${seed}`;
        await Deno.mkdir(root);
        const snapshot = `${Deno.execPath()} run -A ${cli} snapshot ${mnt}`;
        const r = await sh(`python3 ${RANDOM_OPS} ${root} ${seed} ${calls} ${every} ${snapshot}`);
        assert.equal(r.code, 0, r.stderr);
        const want = local.get(seed)!;
        assert.deepEqual(differences(want, r.stdout.trim().split("\n")), [], `seed ${seed}`);
        // Each checkpoint's listing is what its snapshot must hold.
        let checkpoint = 0;
        let listingAt: string[] = [];
        const check = async () => {
          const got = await sh(`python3 ${RANDOM_OPS} --list ${mnt}/.snapshots/${rev}/seed-${seed}`);
          assert.deepEqual(got.stdout.trim().split("\n").filter((l) => l), listingAt, `seed ${seed}, revision ${rev}`);
        };
        for (const line of want) {
          if (line.startsWith("# checkpoint")) {
            if (checkpoint > 0) await check();
            checkpoint++;
            rev++;
            listingAt = [];
          } else if (checkpoint > 0 && !/^\d+ /.test(line)) listingAt.push(line);
        }
        await check();
        assert.equal(checkpoint, calls / every);
      }
    }, ["--xattrs"]);
    const verify = await runCli("verify", `${dir}/store`);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
