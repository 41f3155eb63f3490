/**
 * The command line as scripts use it: stdout carries only the answer, every error is
 * one line on stderr with a non-zero exit, and a failed command writes nothing.
 */
import assert from "node:assert/strict";
import { FORMAT_VERSION, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { Rng, runCli, sha256Hex, tempDir } from "./helpers.ts";

function oneErrorLine(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, "exit code");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `stderr has ${lines.length} lines: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.equal(r.stdout, "");
}

Deno.test("cli: import, log, ls, cat, diff, tag, export, stats, verify on one store", async () => {
  const dir = await tempDir("revfs-cli-");
  try {
    const src = `${dir}/src`;
    // A name with a dot: LMDB's binding takes such a path for a file unless told otherwise.
    const store = `${dir}/notes.store`;
    await Deno.mkdir(`${src}/sub`, { recursive: true });
    const big = new Rng(1).bytes(300_000);
    await Deno.writeFile(`${src}/sub/big.bin`, big);
    await Deno.writeTextFile(`${src}/a.txt`, "first\n");

    const i1 = await runCli("import", store, src, "-m", "first import");
    assert.equal(i1.code, 0, i1.stderr);
    assert.equal(i1.stdout, "1\n");
    await Deno.writeTextFile(`${src}/a.txt`, "second\n");
    await Deno.writeTextFile(`${src}/new.txt`, "new\n");
    assert.equal((await runCli("import", store, src, "-m", "second")).stdout, "2\n");
    assert.equal((await runCli("tag", store, "v1", "1")).code, 0);

    const log = JSON.parse((await runCli("log", store, "--json")).stdout);
    assert.deepEqual(log.map((r: { rev: number }) => r.rev), [2, 1]);
    assert.equal(log[0].message, "second");
    assert.deepEqual(log[1].tags, ["v1"]);
    assert.match((await runCli("log", store)).stdout, /\(v1\) first import/);

    assert.equal((await runCli("cat", store, "a.txt", "--rev", "v1")).stdout, "first\n");
    assert.equal((await runCli("cat", store, "a.txt", "--rev", "2")).stdout, "second\n");
    assert.equal((await runCli("cat", store, "a.txt")).stdout, "second\n", "cat defaults to the head");
    const catBig = await runCli("cat", store, "sub/big.bin", "--rev", "1");
    assert.equal(sha256Hex(catBig.stdoutBytes), sha256Hex(big));

    const ls = (await runCli("ls", store, "--rev", "1")).stdout.trimEnd().split("\n");
    assert.equal(ls.length, 2);
    assert.match(ls[0], /^-rw.* 6 .* a\.txt$/);
    assert.match(ls[1], /^d.* sub\/$/);

    assert.equal((await runCli("diff", store, "1", "2")).stdout, "M  a.txt\nA  new.txt\n");

    const out = `${dir}/out`;
    assert.equal((await runCli("export", store, "v1", out)).code, 0);
    assert.equal(await Deno.readTextFile(`${out}/a.txt`), "first\n");
    assert.equal(sha256Hex(await Deno.readFile(`${out}/sub/big.bin`)), sha256Hex(big));

    const stats = JSON.parse((await runCli("stats", store, "--json")).stdout);
    for (const k of ["revisions", "logicalBytes", "headBytes", "uniqueBlocks", "storedBytes", "fileBytes"]) {
      assert.equal(typeof stats[k], "number", k);
    }
    assert.equal(stats.revisions, 2);
    assert.equal(stats.wholeBytes + stats.deltaBytes + stats.pageBytes + stats.dictBytes, stats.storedBytes);
    // Each revision's added bytes: every record once, charged to the first revision that reaches it.
    const costs = log.map((r: { addedBytes: number }) => r.addedBytes);
    assert.equal(costs[0] + costs[1], stats.storedBytes - stats.dictBytes, "every record, once");
    assert.ok(costs[1] >= 300_000, `revision 1 holds big.bin, 300 kB of random bytes: ${costs[1]}`);
    assert.ok(costs[0] < 10_000, `revision 2 changed two small files: ${costs[0]}`);
    assert.equal(stats.logicalBytes, 2 * 300_000 + 6 + 7 + 4);
    assert.equal(stats.headBytes, 300_000 + 7 + 4);
    // A head written but never snapshotted: nothing logical to compare the stored bytes with.
    const headOnly = await Store.openOrCreate(`${dir}/head-only`);
    const f = headOnly.head.create(ROOT_INO, "f", { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
    headOnly.head.write(f, 0, big);
    await headOnly.close();
    assert.match((await runCli("stats", `${dir}/head-only`)).stdout, /\(logical\/stored -\)/, "no revisions: no ratio");
    const ratio = (stats.logicalBytes / stats.storedBytes).toFixed(2);
    assert.match(
      (await runCli("stats", store)).stdout,
      new RegExp(`\\(logical/stored ${ratio.replace(".", "\\.")}\\)`),
    );
    const v = await runCli("verify", store);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^ok: 2 revisions/);

    assert.equal((await runCli("restore", store, "a.txt", "--rev", "1")).code, 0);
    assert.equal((await runCli("snapshot", store, "-m", "restored")).stdout, "3\n");
    assert.equal((await runCli("cat", store, "a.txt", "--rev", "3")).stdout, "first\n");

    assert.equal((await runCli("drop", store, "2")).code, 0);
    assert.equal((await runCli("gc", store)).code, 0);
    assert.equal((await runCli("cat", store, "new.txt", "--rev", "3")).stdout, "new\n");
    assert.equal((await runCli("verify", store)).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: every error is one line, a non-zero exit, and changes nothing", async () => {
  const dir = await tempDir("revfs-cli-");
  try {
    const src = `${dir}/src`;
    const store = `${dir}/store`;
    await Deno.mkdir(src);
    await Deno.writeTextFile(`${src}/a.txt`, "a\n");
    assert.equal((await runCli("import", store, src)).code, 0);
    const before = JSON.parse((await runCli("stats", store, "--json")).stdout);

    oneErrorLine(await runCli("cat", store, "a.txt", "--rev", "7"), /^revfs: unknown revision 7$/);
    oneErrorLine(await runCli("cat", store, "a.txt", "--rev", "nosuchtag"), /unknown revision "nosuchtag"/);
    oneErrorLine(await runCli("cat", store, "missing.txt", "--rev", "1"), /missing\.txt, revision 1: does not exist$/);
    oneErrorLine(await runCli("ls", store, "a.txt/x", "--rev", "1"), /not a directory/);
    oneErrorLine(await runCli("cat", store, "../etc/passwd", "--rev", "1"), /may not contain "\.\."/);
    oneErrorLine(await runCli("log", src), /is not a revfs store/);
    oneErrorLine(await runCli("log", `${dir}/nothing-here`), /no store at/);
    await Deno.writeTextFile(`${dir}/file`, "x");
    oneErrorLine(await runCli("log", `${dir}/file`), /not a revfs store/);
    oneErrorLine(await runCli("tag", store, "bad name", "1"), /invalid tag name/);
    oneErrorLine(await runCli("drop", store, "9"), /unknown revision 9/);
    oneErrorLine(await runCli("diff", store, "1", "4"), /unknown revision 4/);
    oneErrorLine(await runCli("frobnicate"), /unknown command/);
    // Commands are found by name in a table: its object's own properties only.
    oneErrorLine(await runCli("constructor"), /unknown command/);
    oneErrorLine(await runCli("cat", store), /missing STORE PATH/);
    oneErrorLine(await runCli("log", store, "--bogus"), /unknown option --bogus/);
    oneErrorLine(await runCli("init", store), /already holds a store/);
    oneErrorLine(await runCli("import", store, `${dir}/no-such-dir`), /does not exist/);

    // Export refuses a non-empty target and leaves it as it was.
    const target = `${dir}/target`;
    await Deno.mkdir(target);
    await Deno.writeTextFile(`${target}/keep.txt`, "mine");
    oneErrorLine(await runCli("export", store, "1", target), /is not empty/);
    assert.deepEqual([...Deno.readDirSync(target)].map((e) => e.name), ["keep.txt"]);

    // A second writer is refused while one holds the store.
    const holder = await Store.open(store, { write: true });
    try {
      oneErrorLine(await runCli("snapshot", store), /in use by another writer/);
      oneErrorLine(await runCli("import", store, src), /in use by another writer/);
      // Readers are not blocked by a writer.
      assert.equal((await runCli("cat", store, "a.txt", "--rev", "1")).stdout, "a\n");
    } finally {
      await holder.close();
    }

    // A store of a newer format is refused.
    const newer = await Store.open(store, { write: true });
    const key = new TextEncoder().encode("format");
    const saved = newer.parts.records.get("meta", key)!.slice();
    const bumped = new Uint8Array(8);
    bumped[7] = 99;
    newer.parts.records.write(() => newer.parts.records.put("meta", key, bumped));
    await newer.close();
    oneErrorLine(
      await runCli("log", store),
      new RegExp(`has format 99; this revfs reads up to format ${FORMAT_VERSION}`),
    );
    const restore = await Store.open(`${dir}/store-unused-${crypto.randomUUID()}`).catch((e) => e);
    assert.match(String(restore), /no store at/);
    // Put the format back directly through LMDB, as a newer revfs would not.
    const { LmdbRecordStore } = await import("../store/records/lmdb_backend.ts");
    const raw = LmdbRecordStore.open(store);
    raw.write(() => raw.put("meta", key, saved));
    await raw.close();
    // A format 1 store (no deltas yet) is read as is, and relabelled when opened for writing.
    const old = LmdbRecordStore.open(store);
    const one = new Uint8Array(8);
    one[7] = 1;
    old.write(() => old.put("meta", key, one));
    await old.close();
    assert.equal((await runCli("log", store)).code, 0);
    const upgraded = await Store.open(store, { write: true });
    assert.deepEqual(upgraded.parts.records.get("meta", key), saved);
    await upgraded.close();

    const after = JSON.parse((await runCli("stats", store, "--json")).stdout);
    assert.deepEqual(
      { ...after, fileBytes: 0, freeBytes: 0 },
      { ...before, fileBytes: 0, freeBytes: 0 },
      "a failed command changed the store",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: help lists every command once, from the commands' own usage lines", async () => {
  const help = await runCli("help");
  assert.equal(help.code, 0);
  const commands = [
    "mount",
    "unmount",
    "init",
    "import",
    "export",
    "snapshot",
    "log",
    "ls",
    "cat",
    "diff",
    "restore",
    "tag",
    "drop",
    "gc",
    "stats",
    "optimize",
    "verify",
  ];
  const listed = help.stdout.split("\n").map((l) => l.match(/^ {2}([a-z]+) /)?.[1]).filter((c) => c !== undefined);
  assert.deepEqual([...new Set(listed)].sort(), [...commands].sort());
  // Each command parses what help says it takes: its first usage line, with no arguments, is a usage error.
  for (const c of commands.filter((c) => c !== "snapshot")) {
    const r = await runCli(c);
    assert.equal(r.code, 2, `${c} with no arguments: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^revfs ${c}: missing .* \\(run revfs help\\)\\n$`));
  }
  // No command: the usage on stderr and exit 2.
  const bare = await runCli();
  assert.equal(bare.code, 2);
  assert.equal(bare.stderr.trim(), help.stdout.trim());
});

Deno.test("cli: import and export keep modification times to the nanosecond, a symlink's own too", async () => {
  const dir = await tempDir("revfs-cli-times-");
  try {
    const src = `${dir}/src`;
    await Deno.mkdir(`${src}/sub`, { recursive: true });
    await Deno.writeTextFile(`${src}/sub/a.txt`, "a\n");
    await Deno.writeTextFile(`${src}/big.bin`, "b".repeat(5000));
    await Deno.symlink("sub/a.txt", `${src}/link`);
    const touch = (args: string[]) => new Deno.Command("touch", { args }).output();
    await touch(["-d", "2021-03-04 05:06:07.123456789", `${src}/sub/a.txt`]);
    await touch(["-d", "2019-01-02 03:04:05.000000001", `${src}/big.bin`]);
    await touch(["-h", "-d", "2020-05-06 07:08:09.987654321", `${src}/link`]);
    await touch(["-d", "2018-07-08 09:10:11.555555555", `${src}/sub`]);
    const names = ["sub/a.txt", "big.bin", "link", "sub"];
    const times = async (root: string) => {
      const r = await new Deno.Command("stat", { args: ["-c", "%n %y", ...names.map((n) => `${root}/${n}`)] }).output();
      return new TextDecoder().decode(r.stdout).replaceAll(`${root}/`, "");
    };
    const want = await times(src);
    assert.match(want, /05:06:07\.123456789/);
    assert.equal((await runCli("import", `${dir}/store`, src)).code, 0);
    assert.equal((await runCli("export", `${dir}/store`, "1", `${dir}/out`)).code, 0);
    assert.equal(await times(`${dir}/out`), want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
