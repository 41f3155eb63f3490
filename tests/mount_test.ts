/** The mount, exercised by real programs through a real FUSE mount. */
import assert from "node:assert/strict";
import { isMounted, mountTestDir, sh, withMount } from "./mount_helpers.ts";
import { Rng, runCli, tempDir } from "./helpers.ts";
import { seedTree } from "./tree_model.ts";
import { READAHEAD_KB } from "../fs/mount.ts";

async function ok(cmd: string, cwd?: string): Promise<string> {
  const r = await sh(cmd, cwd);
  assert.equal(r.code, 0, `${cmd}\n${r.stderr}`);
  return r.stdout;
}

Deno.test("mount: real programs behave as on a local disk, and what they wrote is in the store", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-mount-");
  const src = `${dir}/src`;
  await Deno.mkdir(src);
  seedTree(new Rng(99), src, 20);
  try {
    await withMount(store, mnt, async () => {
      await ok(`cp -a ${src} ${mnt}/seeds`);
      await ok(`diff -r --no-dereference ${src} ${mnt}/seeds`);
      await ok(`mkdir -p ${mnt}/a/b/c && echo hello > ${mnt}/a/b/c/f.txt && echo more >> ${mnt}/a/b/c/f.txt`);
      assert.equal(await ok(`cat ${mnt}/a/b/c/f.txt`), "hello\nmore\n");
      await ok(`mv ${mnt}/a/b ${mnt}/moved && test ! -e ${mnt}/a/b && test -f ${mnt}/moved/c/f.txt`);
      await ok(`ln -s moved/c/f.txt ${mnt}/link && test "$(readlink ${mnt}/link)" = moved/c/f.txt`);
      assert.equal(await ok(`cat ${mnt}/link`), "hello\nmore\n");
      await ok(`chmod 600 ${mnt}/moved/c/f.txt && test "$(stat -c %a ${mnt}/moved/c/f.txt)" = 600`);
      await ok(`touch -d '2001-02-03 04:05:06' ${mnt}/moved/c/f.txt`);
      assert.equal(
        (await ok(`stat -c %Y ${mnt}/moved/c/f.txt`)).trim(),
        String(Date.parse("2001-02-03T04:05:06") / 1000),
      );
      // dd into the middle of a file, keeping the rest.
      await ok(`head -c 300000 /dev/urandom > ${dir}/rand && cp ${dir}/rand ${mnt}/rand`);
      await ok(`printf XYZ | dd of=${mnt}/rand bs=1 seek=100000 conv=notrunc status=none`);
      await ok(`printf XYZ | dd of=${dir}/rand bs=1 seek=100000 conv=notrunc status=none`);
      await ok(`cmp ${dir}/rand ${mnt}/rand`);
      await ok(`truncate -s 70000 ${mnt}/rand && truncate -s 70000 ${dir}/rand && cmp ${dir}/rand ${mnt}/rand`);
      await ok(`truncate -s 200000 ${mnt}/rand && truncate -s 200000 ${dir}/rand && cmp ${dir}/rand ${mnt}/rand`);
      // O_EXCL on an existing name fails.
      assert.notEqual((await sh(`set -o noclobber; echo x > ${mnt}/link`)).code, 0);
      await ok(`rm -r ${mnt}/a && test ! -e ${mnt}/a`);
      assert.notEqual((await sh(`rmdir ${mnt}/moved`)).code, 0, "rmdir of a non-empty directory");
      await ok(`df ${mnt} > /dev/null`);
      // A file unlinked while open keeps working through its descriptor until closed.
      const unlinked = await ok(
        `exec 3>${mnt}/tmp.txt; echo hello >&3; rm ${mnt}/tmp.txt; echo world >&3; ` +
          `test ! -e ${mnt}/tmp.txt && cat /proc/$$/fd/3; exec 3>&-`,
      );
      assert.equal(unlinked, "hello\nworld\n");
      // SQLite creates, updates and unlinks its journal inside the mount.
      const sql = Array.from({ length: 300 }, (_, i) => `insert into t values(${i}, 'row ${i}');`).join(" ");
      await ok(`sqlite3 ${mnt}/db.sqlite "create table t(a integer, b text); begin; ${sql} commit;"`);
      await ok(`sqlite3 ${mnt}/db.sqlite "update t set b = 'x' where a % 7 = 0; delete from t where a >= 200;"`);
      assert.equal(
        await ok(`sqlite3 ${mnt}/db.sqlite "select count(*), sum(a) from t; pragma integrity_check;"`),
        "200|19900\nok\n",
      );
      const names = (await ok(`ls -A ${mnt}`)).trim().split("\n").sort();
      assert.deepEqual(names, [".snapshots", "db.sqlite", "link", "moved", "rand", "seeds"]);
      // .snapshots is read-only.
      assert.match((await sh(`touch ${mnt}/.snapshots/x`)).stderr, /Read-only file system/);
      assert.match((await sh(`mkdir ${mnt}/.snapshots/1`)).stderr, /Read-only file system/);
    });
    assert.ok(!isMounted(mnt), "still mounted after the test");
    // What was written through the mount is the store's head; a snapshot keeps it.
    const snap = await runCli("snapshot", store, "-m", "from the mount");
    assert.equal(snap.stdout, "1\n", snap.stderr);
    assert.equal((await runCli("cat", store, "moved/c/f.txt", "--rev", "1")).stdout, "hello\nmore\n");
    const rand = await runCli("cat", store, "rand", "--rev", "1");
    assert.deepEqual(rand.stdoutBytes, await Deno.readFile(`${dir}/rand`));
    assert.equal((await runCli("verify", store)).code, 0);

    await withMount(store, mnt, async () => {
      assert.equal((await ok(`ls ${mnt}/.snapshots`)).trim(), "1");
      await ok(`cmp ${dir}/rand ${mnt}/.snapshots/1/rand`);
      await ok(`diff -r --no-dereference ${src} ${mnt}/.snapshots/1/seeds`);
      assert.equal(
        await ok(`sqlite3 -readonly ${mnt}/.snapshots/1/db.sqlite "select count(*) from t; pragma integrity_check;"`),
        "200\nok\n",
      );
      assert.match((await sh(`echo x >> ${mnt}/.snapshots/1/rand`)).stderr, /Read-only file system/);
      assert.match((await sh(`rm ${mnt}/.snapshots/1/rand`)).stderr, /Read-only file system/);
      // The head goes on independently of the snapshot.
      await ok(`echo changed > ${mnt}/moved/c/f.txt`);
      assert.equal(await ok(`cat ${mnt}/.snapshots/1/moved/c/f.txt`), "hello\nmore\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mount: a bad mountpoint is one clear error and no mount", async () => {
  const dir = await tempDir("revfs-mount-");
  try {
    const missing = await runCli("mount", `${dir}/store`, `${dir}/nope`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^revfs: mountpoint .* does not exist\n$/);
    await Deno.mkdir(`${dir}/full`);
    await Deno.writeTextFile(`${dir}/full/x`, "");
    const full = await runCli("mount", `${dir}/store`, `${dir}/full`);
    assert.match(full.stderr, /^revfs: mountpoint .* is not empty\n$/);
    await Deno.mkdir(`${dir}/other`);
    await withMount(`${dir}/store`, `${dir}/mnt`, async () => {
      const again = await runCli("mount", `${dir}/store2`, `${dir}/mnt`);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already a mountpoint/);
      // A second mount of the same store is refused: the first holds the writer lock.
      const twice = await runCli("mount", `${dir}/store`, `${dir}/other`);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /in use by another writer/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** What JSON.parse says of `text`. */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${text} is JSON`);
}

Deno.test("mount: snapshot while mounted, by store, by mountpoint and from inside; .snapshots shows it at once", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-mount-");
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  try {
    await withMount(store, mnt, async () => {
      const mode = (await ok(`stat -c %a ${store}/control.sock`)).trim();
      assert.equal(mode, "600", "control socket must be private");
      if (Deno.uid() === 0) {
        // Root may widen the kernel's readahead window (fs/mount.ts), once the mount is set up.
        const dev = (await ok(`mountpoint -d ${mnt}`)).trim();
        assert.equal(Deno.readTextFileSync(`/sys/class/bdi/${dev}/read_ahead_kb`).trim(), String(READAHEAD_KB));
      }
      await ok(`echo one > ${mnt}/f.txt`);
      assert.equal((await runCli("snapshot", store, "-m", "by store")).stdout, "1\n");
      // Listed at once, though the kernel keeps listings (no OPENDIR, fs/fuse/op_table.ts).
      assert.equal(await ok(`ls ${mnt}/.snapshots`), "1\n");
      await ok(`echo two > ${mnt}/f.txt`);
      assert.equal((await runCli("snapshot", mnt)).stdout, "2\n");
      assert.equal(await ok(`ls ${mnt}/.snapshots`), "1\n2\n");
      await ok(`echo three > ${mnt}/f.txt`);
      assert.equal(await ok(`${Deno.execPath()} run -A ${cli} snapshot -m inside`, mnt), "3\n");
      assert.equal(
        await ok(`cat ${mnt}/.snapshots/1/f.txt ${mnt}/.snapshots/2/f.txt ${mnt}/.snapshots/3/f.txt`),
        "one\ntwo\nthree\n",
      );
      assert.equal((await runCli("tag", store, "v1", "1")).code, 1, "tag needs the writer lock the mount holds");
      const log = JSON.parse((await runCli("log", store, "--json")).stdout);
      assert.deepEqual(log.map((r: { message: string }) => r.message), ["inside", "", "by store"]);
      // One JSON line each way: a line sent in pieces is read whole, one that is not a
      // request gets an error, and the mount serves on.
      const ask = async (...parts: string[]) => {
        const c = await Deno.connect({ transport: "unix", path: `${store}/control.sock` });
        for (const p of parts) {
          await c.write(new TextEncoder().encode(p));
          await new Promise((r) => setTimeout(r, 20));
        }
        return JSON.parse(await new Response(c.readable).text());
      };
      const status = await ask('{"op":"sta', 'tus"}\n');
      assert.equal(status.ok, true);
      assert.equal(status.status.mountpoint, await Deno.realPath(mnt));
      assert.deepEqual(await ask("not json\n"), { ok: false, error: "internal error: " + jsonError("not json") });
      assert.deepEqual(await ask('{"op":"nope"}\n'), { ok: false, error: "unknown control request" });
      await ok(`echo four > ${mnt}/f.txt`);
      assert.equal((await runCli("snapshot", store)).stdout, "4\n");
    });
    assert.ok(!(await Deno.lstat(`${store}/control.sock`).then(() => true, () => false)), "socket left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mount: a shorter rewrite through O_TRUNC leaves no old tail, in the head, snapshots and store", async () => {
  const dir = await tempDir("revfs-mount-");
  try {
    const store = `${dir}/store`, mnt = `${dir}/mnt`;
    await withMount(store, mnt, async () => {
      assert.equal((await sh(`printf 0123456789 > ${mnt}/f && printf ab > ${mnt}/f`)).code, 0);
      assert.equal((await runCli("snapshot", store)).stdout, "1\n");
      assert.equal(await Deno.readTextFile(`${mnt}/.snapshots/1/f`), "ab");
    });
    assert.equal((await runCli("cat", store, "f")).stdout, "ab");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
