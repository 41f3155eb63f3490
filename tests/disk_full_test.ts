/**
 * Disk full: the store on a 24 MiB tmpfs. Writes past the space get ENOSPC, a
 * snapshot fails with one clear line and makes no revision, the mount keeps serving;
 * once the filesystem grows the same mount snapshots again and the store verifies. A
 * snapshot whose own writeout does not fit keeps the writes it could not store.
 * Needs root (it mounts a tmpfs), as the mount tests do.
 */
import assert from "node:assert/strict";
import { runCli, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

/**
 * A store on a new 24 MiB tmpfs (`fs`), mounted at `mnt` with a.txt in its first
 * snapshot, for `fn`; then the store must verify. The tmpfs goes afterwards, whatever happens.
 */
async function onSmallDisk(fn: (fs: string, store: string, mnt: string) => Promise<void>): Promise<void> {
  const dir = await tempDir("revfs-disk-full-");
  const fs = `${dir}/fs`;
  await Deno.mkdir(fs);
  assert.equal((await sh(`mount -t tmpfs -o size=24m tmpfs '${fs}'`)).code, 0, "cannot mount a tmpfs");
  try {
    const store = `${fs}/store`, mnt = `${dir}/mnt`;
    await withMount(store, mnt, async () => {
      await Deno.writeTextFile(`${mnt}/a.txt`, "kept\n");
      assert.equal((await runCli("snapshot", store)).stdout, "1\n");
      await fn(fs, store, mnt);
    });
    const v = await runCli("verify", store);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await sh(`umount -l '${fs}'`);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("disk full: ENOSPC for writes, a failed snapshot changes nothing, and all is well after space is freed", async () => {
  await onSmallDisk(async (fs, store, mnt) => {
    const dd = await sh(`dd if=/dev/urandom of='${mnt}/big' bs=1M count=48 conv=fsync status=none`);
    assert.notEqual(dd.code, 0, "48 MiB fit in 24");
    assert.match(dd.stderr, /No space left on device/);

    const snap = await runCli("snapshot", store);
    assert.equal(snap.code, 1);
    assert.match(snap.stderr, /^revfs: no space left on the filesystem of store .*; nothing was written\n$/);
    assert.deepEqual([...Deno.readDirSync(`${mnt}/.snapshots`)].map((e) => e.name), ["1"]);
    assert.equal(await Deno.readTextFile(`${mnt}/a.txt`), "kept\n", "the mount stopped serving");
    // A small file still fits in the space the failed commit did not keep.
    const small = await sh(`echo small > '${mnt}/small' && sync '${mnt}/small' && cat '${mnt}/small'`);
    assert.equal(small.stdout, "small\n", small.stderr);

    // Space comes back: the same mount writes out what it held and snapshots.
    assert.equal((await sh(`mount -o remount,size=256m '${fs}'`)).code, 0);
    const again = await runCli("snapshot", store);
    assert.equal(again.code, 0, again.stderr);
    const ok = await sh(
      `dd if=/dev/urandom of='${mnt}/after' bs=1M count=8 conv=fsync status=none && sha256sum < '${mnt}/after'`,
    );
    assert.equal(ok.code, 0, ok.stderr);
    const rev = (await runCli("snapshot", store)).stdout.trim();
    assert.equal((await sh(`sha256sum < '${mnt}/.snapshots/${rev}/after'`)).stdout, ok.stdout);
    assert.equal(await Deno.readTextFile(`${mnt}/.snapshots/${rev}/a.txt`), "kept\n");
  });
});

Deno.test("disk full: a snapshot whose own writeout does not fit makes no revision and keeps the writes in the mount", async () => {
  await onSmallDisk(async (fs, store, mnt) => {
    // The tmpfs filled but for 1 MiB, then 6 MiB written with no fsync: they wait in the
    // mount's cache (below its writeout threshold), and the snapshot must store them.
    const free = Number((await sh(`df -B1 --output=avail '${fs}' | tail -1`)).stdout.trim());
    const filler = await sh(`fallocate -l ${free - (1 << 20)} '${fs}/filler'`);
    assert.equal(filler.code, 0, filler.stderr);
    const w = await sh(
      `dd if=/dev/urandom of='${mnt}/big' bs=1M count=6 status=none && sha256sum < '${mnt}/big'`,
    );
    assert.equal(w.code, 0, w.stderr);

    const snap = await runCli("snapshot", store);
    assert.equal(snap.code, 1, snap.stdout);
    assert.match(snap.stderr, /^revfs: no space left on the filesystem of store .*; nothing was written\n$/);
    assert.deepEqual([...Deno.readDirSync(`${mnt}/.snapshots`)].map((e) => e.name), ["1"]);
    assert.equal((await sh(`sha256sum < '${mnt}/big'`)).stdout, w.stdout, "the failed snapshot lost writes");

    await Deno.remove(`${fs}/filler`);
    const rev = (await runCli("snapshot", store)).stdout.trim();
    assert.equal(rev, "2");
    assert.equal((await sh(`sha256sum < '${mnt}/.snapshots/2/big'`)).stdout, w.stdout);
    assert.equal((await sh(`sha256sum < '${mnt}/big'`)).stdout, w.stdout);
  });
});
