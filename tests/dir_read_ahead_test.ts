/**
 * A reader of a directory's files one after another gets the next files' first records
 * asked for ahead (fs/dir_read_ahead.ts): when, which, and that one file read alone
 * asks for nothing; through a real mount, `cp -r` out of a directory, of the head or of
 * a snapshot, asks ahead and copies every byte.
 */
import assert from "node:assert/strict";
import { DirReadAhead } from "../fs/dir_read_ahead.ts";
import { mountTestDir, sh, withMount } from "./mount_helpers.ts";
import { Rng, runCli } from "./helpers.ts";

/** Directories of files, each listing replaced (a new object) when `add` changes it. */
function fakeDirs(files: Record<number, number[]>) {
  const listings = new Map<number, number[]>(Object.entries(files).map(([d, f]) => [Number(d), [...f]]));
  const asked: number[][] = [];
  const ahead = new DirReadAhead(
    (dir) => {
      const listing = listings.get(dir)!;
      return { listing, files: () => [...listing] };
    },
    (inos) => asked.push(inos),
  );
  const add = (dir: number, ino: number) => listings.set(dir, [...listings.get(dir)!, ino]);
  return { ahead, asked, add };
}

Deno.test("dir read-ahead: the second file read asks for the files after it, in inode order", () => {
  // Listed in name order, read in inode order (as GNU cp reads).
  const files = Array.from({ length: 100 }, (_, i) => 1000 + ((i * 37) % 100));
  const { ahead, asked } = fakeDirs({ 1: files });
  let t = 0;
  ahead.started(1, 1000, t);
  assert.equal(asked.length, 0, "one file read is no pattern");
  ahead.started(1, 1001, t += 5);
  assert.deepEqual(asked, [Array.from({ length: 34 }, (_, i) => 1000 + i).filter((i) => i !== 1001)]);
  const all = new Set(asked.flat());
  for (let ino = 1002; ino < 1100; ino++) {
    assert.ok(all.has(ino), `file ${ino} asked for before it is read`);
    ahead.started(1, ino, t += 5);
    for (const i of asked[asked.length - 1]) all.add(i);
  }
  const flat = asked.flat();
  assert.equal(new Set(flat).size, flat.length, "no file asked for twice");
  assert.ok(asked.length <= 8, `asked in ${asked.length} batches, not one a file`);
});

Deno.test("dir read-ahead: a walk asks for each directory it comes to at its first file; a pause ends it", () => {
  const { ahead, asked } = fakeDirs({ 1: [10, 11, 12], 2: [20, 21, 22], 3: [30, 31, 32] });
  ahead.started(1, 10, 0);
  ahead.started(1, 11, 1);
  assert.deepEqual(asked, [[10, 12]]);
  ahead.started(2, 20, 2);
  assert.deepEqual(asked[1], [21, 22], "the next directory at its first file");
  ahead.started(3, 30, 10_000);
  assert.equal(asked.length, 2, "after a pause one file is no pattern again");
  ahead.started(3, 31, 10_001);
  assert.deepEqual(asked[2], [30, 32]);
});

Deno.test("dir read-ahead: a directory that changed is listed again", () => {
  const { ahead, asked, add } = fakeDirs({ 1: Array.from({ length: 40 }, (_, i) => 100 + i) });
  ahead.started(1, 100, 0);
  ahead.started(1, 101, 1);
  assert.ok(!asked.flat().includes(134), "34 files asked for at first");
  add(1, 200);
  for (let ino = 102; ino < 140; ino++) ahead.started(1, ino, ino);
  assert.ok(asked.flat().includes(139), "the rest of the directory asked for");
  assert.ok(asked.flat().includes(200), "and the file made while it was read");
});

Deno.test("dir read-ahead: cp -r out of a mount asks ahead for the directory's files and copies every byte", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-dirahead-");
  try {
    const rng = new Rng(3);
    const files = new Map<string, Uint8Array>();
    await withMount(store, mnt, async () => {
      await Deno.mkdir(`${mnt}/d`);
      for (let i = 0; i < 40; i++) {
        // Past the inline size (store/head/snapshot.ts INLINE_MAX), a few past 128 KiB.
        const data = rng.bytes(i % 10 === 0 ? 200_000 : 4000 + rng.int(30_000));
        files.set(`f${i}`, data);
        await Deno.writeFile(`${mnt}/d/f${i}`, data);
      }
      await Deno.writeTextFile(`${mnt}/d/small`, "inline\n");
    });
    await withMount(store, mnt, async () => {
      const one = await sh(`cat ${mnt}/d/f7 > /dev/null`);
      assert.equal(one.code, 0);
      const stats = () => runCli("stats", mnt, "--json").then((r) => JSON.parse(r.stdout).mount.cache);
      assert.equal((await stats()).dirPrefetches, 0, "one file read asks for nothing");
      const cp = await sh(`cp -r ${mnt}/d ${dir}/out`);
      assert.equal(cp.code, 0, cp.stderr);
      const asked = (await stats()).dirPrefetches;
      // 41 files; the one whose read starts the pattern is not asked for.
      assert.ok(asked >= 30 && asked <= 40, `${asked} files asked for ahead`);
    });
    for (const [name, data] of files) assert.deepEqual(await Deno.readFile(`${dir}/out/${name}`), data, name);
    assert.equal(await Deno.readTextFile(`${dir}/out/small`), "inline\n");

    // The same out of a snapshot (a restore): asked ahead too, and the listing hands the
    // kernel each file's attributes, so the copy makes no lookup per file.
    assert.equal((await runCli("snapshot", store)).code, 0);
    const times = `${dir}/op-times.json`;
    await withMount(
      store,
      mnt,
      async () => {
        const cp = await sh(`cp -r ${mnt}/.snapshots/1/d ${dir}/restored && ls -ln ${mnt}/.snapshots/1/d`);
        assert.equal(cp.code, 0, cp.stderr);
        for (const line of cp.stdout.trim().split("\n").slice(1)) {
          const [mode, , , , size, , , , name] = line.split(/\s+/);
          assert.equal(mode, "-rw-r--r--", line);
          assert.equal(Number(size), name === "small" ? 7 : files.get(name)!.length, line);
        }
        const asked = JSON.parse((await runCli("stats", mnt, "--json")).stdout).mount.cache.dirPrefetches;
        assert.ok(asked >= 30 && asked <= 40, `${asked} files of the snapshot asked for ahead`);
        assert.notEqual((await sh(`stat ${mnt}/not-there`)).code, 0);
      },
      [],
      { REVFS_OP_TIMES: times },
    );
    for (const [name, data] of files) assert.deepEqual(await Deno.readFile(`${dir}/restored/${name}`), data, name);
    const ops = JSON.parse(await Deno.readTextFile(times)) as { op: string; count: number }[];
    const lookups = ops.find((o) => o.op === "lookup")?.count ?? 0;
    assert.ok(lookups < 10, `${lookups} lookups copying 41 files out of a snapshot`);
    // Failed requests are timed too, apart from the answered ones.
    assert.ok((ops.find((o) => o.op === "lookup (error)")?.count ?? 0) >= 1, JSON.stringify(ops));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
