/**
 * Bad input that reaches the mount or `import`: names too long or not UTF-8, a
 * terabyte sparse file, a mount of something that is not a store, a bad tuning knob.
 * Each is refused with one clear error (or, for the sparse file, handled without
 * memory or disk blow-up), and nothing else changes.
 */
import assert from "node:assert/strict";
import { type RevNumber } from "../mod.ts";
import { Store } from "../store/store.ts";
import { runCli, runCliWith, tempDir } from "./helpers.ts";
import { isMounted, sh, withMount } from "./mount_helpers.ts";

const TIB = 2 ** 40;

Deno.test("mount: over-long and non-UTF-8 names are refused; a 1 TiB sparse file costs nothing", async () => {
  const dir = await tempDir("revfs-bad-input-");
  try {
    const store = `${dir}/store`;
    const mnt = `${dir}/mnt`;
    await withMount(store, mnt, async ({ process }) => {
      const long = "n".repeat(256);
      const tooLong = await sh(`touch '${mnt}/${long}'`);
      assert.notEqual(tooLong.code, 0);
      assert.match(tooLong.stderr, /File name too long/);
      assert.equal((await sh(`touch '${mnt}/${"n".repeat(255)}'`)).code, 0, "a 255-byte name is fine");
      // Every path operation on a missing over-long name: ENAMETOOLONG, as on a local disk, not ENOENT.
      for (const cmd of ["chmod 600", "chown 0", "truncate -s 0", "rm", "rmdir", "stat", "cat"]) {
        const r = await sh(`${cmd} '${mnt}/${long}'`);
        assert.notEqual(r.code, 0, cmd);
        assert.match(r.stderr, /File name too long/, `${cmd}: ${r.stderr}`);
      }
      for (const cmd of [`mv '${mnt}/${long}' '${mnt}/x'`, `ln '${mnt}/${long}' '${mnt}/x'`]) {
        assert.match((await sh(cmd)).stderr, /File name too long/, cmd);
      }
      const notUtf8 = await sh(`touch $'${mnt}/bad\\xff\\xfe'`);
      assert.notEqual(notUtf8.code, 0);
      assert.match(notUtf8.stderr, /Invalid or incomplete multibyte/);
      const mk = await sh(`mkdir $'${mnt}/dir\\xc3'`);
      assert.notEqual(mk.code, 0);
      assert.deepEqual([...Deno.readDirSync(mnt)].map((e) => e.name).sort(), [".snapshots", "n".repeat(255)]);

      // A terabyte file with three small islands of data.
      const f = `${mnt}/huge`;
      assert.equal((await sh(`truncate -s 1T '${f}'`)).code, 0);
      const put = (at: number, text: string) =>
        sh(`printf '${text}' | dd of='${f}' bs=1 seek=${at} conv=notrunc status=none`);
      assert.equal((await put(0, "start")).code, 0);
      assert.equal((await put(TIB / 2, "middle")).code, 0);
      assert.equal((await put(TIB - 3, "end")).code, 0);
      assert.equal(Deno.statSync(f).size, TIB);
      const rev = (await runCli("snapshot", store)).stdout.trim();
      for (const path of [f, `${mnt}/.snapshots/${rev}/huge`]) {
        assert.equal(Deno.statSync(path).size, TIB);
        assert.equal((await sh(`tail -c 3 '${path}'`)).stdout, "end");
        assert.equal((await sh(`dd if='${path}' bs=1 skip=${TIB / 2} count=6 status=none`)).stdout, "middle");
        assert.equal((await sh(`head -c 5 '${path}'`)).stdout, "start");
      }
      const rss = Number(Deno.readTextFileSync(`/proc/${process.pid}/status`).match(/VmHWM:\s+(\d+)/)![1]) * 1024;
      assert.ok(rss < 1024 * 2 ** 20, `mount peaked at ${rss} bytes`);
    });
    const du = Number((await sh(`du -sb '${store}'`)).stdout.split("\t")[0]);
    assert.ok(du < 8 * 2 ** 20, `the store of a 1 TiB sparse file takes ${du} bytes`);
    assert.equal((await runCli("verify", store)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("import: a 1 TiB sparse file reads only its data; a name that is not UTF-8 is one error", async () => {
  const dir = await tempDir("revfs-bad-input-");
  try {
    const src = `${dir}/src`;
    await Deno.mkdir(src);
    await sh(
      `truncate -s 1T '${src}/huge' && printf 'end' | dd of='${src}/huge' bs=1 seek=${
        TIB - 3
      } conv=notrunc status=none`,
    );
    const store = `${dir}/store`;
    const imported = await runCli("import", store, src);
    assert.equal(imported.code, 0, imported.stderr);
    // The file loses its data at the end and gains some at the start: the old block becomes a hole.
    await sh(
      `rm '${src}/huge' && truncate -s 1T '${src}/huge' && printf 'new' | dd of='${src}/huge' conv=notrunc status=none`,
    );
    assert.equal((await runCli("import", store, src)).code, 0);
    const s = await Store.open(store);
    try {
      const dataOf = (rev: number) =>
        [...s.revisionTree(rev as RevNumber).blocks("huge")].map(([idx, b]) => [idx, new TextDecoder().decode(b)]);
      const last = (TIB - 1) / s.blockSize;
      assert.deepEqual(dataOf(1), [[Math.floor(last), "\0".repeat(s.blockSize - 3) + "end"]]);
      assert.deepEqual(dataOf(2), [[0, "new"]]);
      assert.equal(s.revisionTree(2 as RevNumber).stat("huge").size, TIB);
    } finally {
      await s.close();
    }

    const before = (await runCli("log", store)).stdout;
    await sh(`touch $'${src}/bad\\xff'`);
    const bad = await runCli("import", store, src);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^revfs: cannot import .*: a name that is not valid UTF-8 \(nothing was imported\)\n$/);
    assert.equal((await runCli("log", store)).stdout, before);
    assert.equal((await runCli("verify", store)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mount: something that is not a store is refused and leaves no mount", async () => {
  const dir = await tempDir("revfs-bad-input-");
  try {
    const mnt = `${dir}/mnt`;
    await Deno.mkdir(mnt);
    await Deno.mkdir(`${dir}/notastore`);
    await Deno.writeTextFile(`${dir}/notastore/data.mdb`, "hello, not LMDB");
    const r = await runCli("mount", `${dir}/notastore`, mnt);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^revfs: store .* is damaged: its data\.mdb has no valid first meta page .*\n$/);
    await Deno.writeTextFile(`${dir}/file`, "x");
    const f = await runCli("mount", `${dir}/file`, mnt);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /^revfs: .*file is not a revfs store \(it is not a directory\)\n$/);
    assert.ok(!isMounted(mnt));
    assert.deepEqual([...Deno.readDirSync(mnt)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mount: a bad REVFS_WAIT_BUSY_US is one error, before any store is made", async () => {
  const dir = await tempDir("revfs-bad-input-");
  try {
    const mnt = `${dir}/mnt`;
    await Deno.mkdir(mnt);
    const r = await runCliWith({ REVFS_WAIT_BUSY_US: "fast" }, "mount", `${dir}/store`, mnt);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'revfs: REVFS_WAIT_BUSY_US must be a whole number of microseconds, not "fast"\n');
    assert.ok(!isMounted(mnt));
    assert.throws(() => Deno.statSync(`${dir}/store`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
