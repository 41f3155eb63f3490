/**
 * Hard links: several names of one file in the head, in every revision (`.snapshots`
 * shows one inode with its link count), through `export` and `import` and `restore`.
 */
import assert from "node:assert/strict";
import { type FileEntry, type Ino, type RevNumber, ROOT_INO } from "../mod.ts";
import { runCli, storeTest, tempDir } from "./helpers.ts";
import { mountTestDir, sh, withMount } from "./mount_helpers.ts";

/** `stat` of each path: "inode links size", the inode replaced by the first path's name that has it. */
async function groups(root: string, paths: string[]): Promise<string[]> {
  const r = await sh(`cd '${root}' && stat -c '%i %h %s' ${paths.join(" ")}`);
  assert.equal(r.code, 0, r.stderr);
  const first = new Map<string, string>();
  return r.stdout.trim().split("\n").map((line, k) => {
    const [ino, nlink, size] = line.split(" ");
    if (!first.has(ino)) first.set(ino, paths[k]);
    return `${paths[k]}=${first.get(ino)} links ${nlink} size ${size}`;
  });
}

async function ok(cmd: string): Promise<string> {
  const r = await sh(cmd);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout;
}

Deno.test("hard links through the mount: one file under several names, in the head and every snapshot", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-links-");
  try {
    await withMount(store, mnt, async () => {
      await ok(`cd '${mnt}' && printf one > a && ln a b && mkdir d && ln b d/c && printf ' two' >> d/c`);
      assert.deepEqual(await groups(mnt, ["a", "b", "d/c"]), [
        "a=a links 3 size 7",
        "b=a links 3 size 7",
        "d/c=a links 3 size 7",
      ]);
      assert.equal(await ok(`cat '${mnt}/b'`), "one two");
      assert.equal((await runCli("snapshot", store)).stdout, "1\n");
      // One name goes, one moves, one is written: the others see it, the count follows.
      await ok(`cd '${mnt}' && rm a && mv b e && printf three > d/c`);
      assert.deepEqual(await groups(mnt, ["e", "d/c"]), ["e=e links 2 size 5", "d/c=e links 2 size 5"]);
      assert.equal((await runCli("snapshot", store)).stdout, "2\n");
      // A last name after the others went is a plain file again.
      await ok(`rm '${mnt}/e'`);
      assert.deepEqual(await groups(mnt, ["d/c"]), ["d/c=d/c links 1 size 5"]);
      assert.equal((await runCli("snapshot", store)).stdout, "3\n");

      const s = `${mnt}/.snapshots`;
      assert.deepEqual(await groups(s, ["1/a", "1/b", "1/d/c", "2/e", "2/d/c", "3/d/c"]), [
        "1/a=1/a links 3 size 7",
        "1/b=1/a links 3 size 7",
        "1/d/c=1/a links 3 size 7",
        "2/e=2/e links 2 size 5",
        "2/d/c=2/e links 2 size 5",
        "3/d/c=3/d/c links 1 size 5",
      ]);
      assert.equal(await ok(`cat '${s}/1/d/c' '${s}/2/e'`), "one twothree");
      // Read-only, and not a name a revision's file can be given in the head.
      assert.match((await sh(`ln '${s}/1/a' '${mnt}/x'`)).stderr, /Invalid cross-device link/);
      assert.match((await sh(`ln '${mnt}/d/c' '${s}/1/x'`)).stderr, /Read-only file system/);
    });
    assert.equal((await runCli("verify", store)).code, 0);

    // export writes the names of one file as hard links; import reads them back as one.
    const out = `${dir}/out`;
    assert.equal((await runCli("export", store, "1", out)).code, 0);
    assert.deepEqual(await groups(out, ["a", "b", "d/c"]), [
      "a=a links 3 size 7",
      "b=a links 3 size 7",
      "d/c=a links 3 size 7",
    ]);
    const again = `${dir}/again`;
    assert.equal((await runCli("import", again, out)).code, 0, "import");
    const back = `${dir}/back`;
    assert.equal((await runCli("export", again, "1", back)).code, 0);
    assert.deepEqual(await groups(back, ["a", "b", "d/c"]), await groups(out, ["a", "b", "d/c"]));
    // Importing the same tree again changes nothing; a link removed in it is one name less.
    assert.equal((await runCli("import", again, out)).code, 0);
    await Deno.remove(`${out}/b`);
    assert.equal((await runCli("import", again, out)).code, 0);
    const third = `${dir}/third`;
    assert.equal((await runCli("export", again, "3", third)).code, 0);
    assert.deepEqual(await groups(third, ["a", "d/c"]), ["a=a links 2 size 7", "d/c=a links 2 size 7"]);
    const diff = await runCli("diff", again, "1", "2");
    assert.equal(diff.stdout, "", "an unchanged import made a different tree");
    assert.equal((await runCli("verify", again)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

storeTest(
  "hard links: restore brings a directory's linked names back as one inode; verify checks the names agree",
  (ts) => {
    const { store } = ts;
    const file = { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n } as const;
    const g = store.head.create(ROOT_INO, "g", { ...file, type: "dir", mode: 0o755 }).ino;
    const x = store.head.create(g, "x", file).ino;
    store.head.write(x, 0, new TextEncoder().encode("shared bytes"));
    store.head.link(x, g, "y");
    store.head.link(x, ROOT_INO, "top");
    const rev = store.snapshot().rev;
    const entry = (r: RevNumber, path: string) => store.revisionTree(r).entry(path) as FileEntry;
    assert.deepEqual(entry(rev, "g/y").link, { id: x, count: 3 });
    assert.deepEqual(entry(rev, "g/x").content, entry(rev, "top").content);

    store.head.remove(ROOT_INO, "top", false);
    store.head.remove(g, "x", false);
    store.head.remove(g, "y", false);
    store.head.remove(ROOT_INO, "g", true);
    assert.equal(store.head.inode(x), undefined, "the file outlived its names");
    store.snapshot();
    store.restore("g", rev);
    const g2 = store.head.lookup(ROOT_INO, "g")!;
    const [x2, y2] = [store.head.lookup(g2, "x"), store.head.lookup(g2, "y")];
    assert.ok(x2 !== undefined && x2 === y2, "restored names are two files");
    assert.notEqual(x2, x);
    const after = store.snapshot().rev;
    // Within the restored directory the file has its two names; their entries name the new inode.
    assert.deepEqual(entry(after, "g/x").link, { id: x2, count: 2 });
    assert.deepEqual(entry(after, "g/y").link, { id: x2, count: 2 });
    assert.deepEqual(store.verify().problems, []);

    // A revision whose entries disagree about a link (forged here) is named by verify.
    store.head.link(x2 as Ino, ROOT_INO, "z");
    const good = store.snapshot();
    assert.deepEqual(entry(good.rev, "z").link, { id: x2, count: 3 });
    const { records, dirs, log } = store.parts;
    const forged = records.write(() => {
      const z = { ...entry(good.rev, "z"), link: { id: x2!, count: 5 } };
      const { root } = dirs.update(good.root.content, new Map([["z", z]]));
      return log.append(good.rev, "forged", { ...good.root, content: root });
    });
    const problems = store.verify().problems;
    assert.ok(
      problems.some((p) => p.startsWith(`revision ${forged.rev}:`) && p.includes(`hard link ${x2} counts`)),
      problems.join("\n"),
    );
    assert.ok(!problems.some((p) => !p.startsWith(`revision ${forged.rev}:`)), problems.join("\n"));
    records.write(() => log.remove(forged.rev));
  },
);

Deno.test("hard links: import of a tree whose files have names outside it reads each as one file", async () => {
  const dir = await tempDir("revfs-links-out-");
  try {
    await ok(`mkdir -p '${dir}/src' && printf data > '${dir}/outside' && ln '${dir}/outside' '${dir}/src/inside'`);
    const store = `${dir}/store`;
    assert.equal((await runCli("import", store, `${dir}/src`)).code, 0);
    const out = `${dir}/out`;
    assert.equal((await runCli("export", store, "1", out)).code, 0);
    assert.deepEqual(await groups(out, ["inside"]), ["inside=inside links 1 size 4"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
