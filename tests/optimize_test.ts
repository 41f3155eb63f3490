/**
 * `optimize`: trained dictionaries and a denser zstd level make the store smaller and
 * change no content; an
 * optimize killed at random points leaves a store that verifies and reads exactly as
 * before, and running it again finishes the job.
 */
import assert from "node:assert/strict";
import { type FileEntry, type RevNumber, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { checkStoreInvariants, readEntry, Rng, runCli, runCliWith, sha256Hex, tempDir } from "./helpers.ts";
import { writeRecordTree } from "./tree_model.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** sha256 of every file of every revision. */
function contents(store: Store): Map<string, string> {
  const out = new Map<string, string>();
  for (const rev of store.revisions()) {
    const view = store.revisionTree(rev.rev as RevNumber);
    for (const dir of ["data", "docs"]) {
      for (const [name] of view.list(dir)) {
        const f = view.entry(`${dir}/${name}`) as FileEntry;
        out.set(`${rev.rev}:${dir}/${name}`, sha256Hex(readEntry(store, f, 0, f.size)));
      }
    }
  }
  return out;
}

async function buildStore(dir: string, seed: number, files: number): Promise<string> {
  const rng = new Rng(seed);
  const src = `${dir}/src`;
  writeRecordTree(rng, src, files);
  const store = `${dir}/store`;
  assert.equal((await runCli("import", store, src)).code, 0);
  // A second revision with some files edited.
  for (let i = 0; i < files; i += 7) Deno.writeFileSync(`${src}/docs/n${i}.txt`, rng.bytes(3000, "text"));
  assert.equal((await runCli("import", store, src)).code, 0);
  return store;
}

Deno.test("optimize: dictionaries shrink the store, keep every byte, and new blocks use them", async () => {
  const dir = await tempDir("revfs-optimize-");
  try {
    const path = await buildStore(dir, 5, 400);
    let store = await Store.open(path);
    const before = contents(store);
    const statsBefore = store.stats();
    await store.close();

    const r = await runCli("optimize", path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /trained \d+ dictionar/);
    store = await Store.open(path, { write: true });
    try {
      const st = store.stats();
      assert.ok(st.dictionaries.length >= 1, JSON.stringify(st.dictionaries));
      for (const d of st.dictionaries) assert.ok(d.blocks > 0 && d.bytesSaved > d.size, JSON.stringify(d));
      assert.ok(st.storedBytes < statsBefore.storedBytes, `${st.storedBytes} >= ${statsBefore.storedBytes}`);
      assert.deepEqual(contents(store), before);
      checkStoreInvariants(store);
      // A block written after optimize uses its kind's dictionary.
      const kind = st.dictionaries[0].kind;
      const f = store.head.create(ROOT_INO, `new.${kind === "*" ? "x" : kind}`, {
        type: "file",
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtimeNs: 0n,
      });
      store.head.write(f.ino, 0, new Rng(9).bytes(5000, "text"));
      const written = store.head.inode(f.ino)!;
      assert.ok(written.type === "file");
      assert.equal(store.parts.blocks.dictOf(store.head.blockHash(written, 0)!), st.dictionaries[0].id);
      // Dictionaries are stored compressed (format 9).
      const dictSizes = st.dictionaries.reduce((n, d) => n + d.size, 0);
      assert.ok(st.dictBytes < dictSizes * 0.7, `dictionary records ${st.dictBytes} for ${dictSizes} bytes`);
    } finally {
      await store.close();
    }

    // A format 8 store held its dictionaries raw: it reads the same, and optimize compresses them.
    store = await Store.open(path, { write: true });
    const records = store.parts.records;
    const compressed = store.stats().dictBytes;
    const contentBefore = contents(store);
    records.write(() => {
      for (const d of store.parts.blocks.dicts.all()) {
        const raw = new Uint8Array([d.kind.length, ...new TextEncoder().encode(d.kind), 0, ...d.bytes]);
        records.put("dicts", new Uint8Array([0, 0, 0, 0, 0, 0, 0, d.id]), raw);
      }
    });
    await store.close();
    store = await Store.open(path);
    try {
      assert.ok(store.stats().dictBytes > compressed * 2, "the dictionaries were rewritten raw");
      assert.deepEqual(contents(store), contentBefore, "a raw dictionary reads");
    } finally {
      await store.close();
    }
    assert.equal((await runCli("optimize", path)).code, 0);
    store = await Store.open(path);
    try {
      assert.ok(store.stats().dictBytes <= compressed, `${store.stats().dictBytes} > ${compressed} after optimize`);
      assert.deepEqual(contents(store), contentBefore, "after optimize compressed the dictionaries");
      checkStoreInvariants(store);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("optimize: killed at random points, the store verifies and reads identically; a rerun finishes", async () => {
  const dir = await tempDir("revfs-optimize-kill-");
  try {
    const path = await buildStore(dir, 6, 700);
    let store = await Store.open(path);
    const before = contents(store);
    await store.close();
    // Time a full run on a copy, to spread the kills over the whole run.
    await new Deno.Command("cp", { args: ["-a", path, `${dir}/probe`] }).output();
    const t0 = performance.now();
    assert.equal((await runCli("optimize", `${dir}/probe`)).code, 0);
    const fullMs = performance.now() - t0;
    const probe = await Store.open(`${dir}/probe`);
    const finalUsers = probe.stats().dictionaries.reduce((n, d) => n + d.blocks, 0);
    await probe.close();
    // Killed between two of its transactions, optimize leaves part of the store re-encoded:
    // walk the kill point until one lands between re-encode batches.
    let partialAt = 0;
    for (let n = 1; partialAt === 0; n++) {
      await Deno.remove(`${dir}/probe`, { recursive: true });
      await new Deno.Command("cp", { args: ["-a", path, `${dir}/probe`] }).output();
      const r = await runCliWith({ REVFS_TEST_KILL_BEFORE_TXN: String(n) }, "optimize", `${dir}/probe`);
      if (r.signal !== "SIGKILL") break;
      const killedAt = await Store.open(`${dir}/probe`);
      const users = killedAt.stats().dictionaries.reduce((k, d) => k + d.blocks, 0);
      assert.deepEqual(contents(killedAt), before, `killed before transaction ${n}`);
      await killedAt.close();
      if (users > 0 && users < finalUsers) partialAt = n;
    }
    assert.ok(partialAt > 0, "no kill point left optimize part-way through re-encoding");
    const rng = new Rng(12);
    let killed = 0;
    const progress: string[] = [];
    for (let round = 0; round < 5; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "optimize", path],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await new Promise((r) => setTimeout(r, fullMs * (0.3 + 0.7 * rng.next())));
      try {
        child.kill("SIGKILL");
      } catch {
        // it had finished
      }
      if ((await child.status).signal === "SIGKILL") killed++;
      store = await Store.open(path);
      try {
        assert.deepEqual(store.verify().problems, [], `round ${round}`);
        assert.deepEqual(contents(store), before, `round ${round}`);
        progress.push(String(store.stats().dictionaries.reduce((n, d) => n + d.blocks, 0)));
      } finally {
        await store.close();
      }
    }
    assert.ok(killed > 0, "no kill landed before optimize finished");
    console.log(`  blocks using dictionaries after each kill: ${progress.join(", ")} (of ${finalUsers})`);
    const done = await runCli("optimize", path);
    assert.equal(done.code, 0, done.stderr);
    const again = await runCli("optimize", path);
    assert.match(
      again.stderr,
      /: 0 block records \(saved 0 B\) and pages \(saved 0 B\)/,
      "a finished optimize has nothing left to do",
    );
    store = await Store.open(path);
    try {
      assert.deepEqual(contents(store), before);
      checkStoreInvariants(store);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("optimize: without a trainer it says so, trains nothing, and still re-encodes records denser", async () => {
  const dir = await tempDir("revfs-optimize-wasm-");
  try {
    const path = await buildStore(dir, 7, 40);
    const before = JSON.parse((await runCli("stats", path, "--json")).stdout);
    const opened = await Store.open(path);
    const expected = contents(opened);
    await opened.close();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "optimize", path],
      env: { REVFS_ZSTD: "wasm" },
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0);
    assert.match(new TextDecoder().decode(out.stderr), /no dictionary trainer/);
    const after = JSON.parse((await runCli("stats", path, "--json")).stdout);
    assert.deepEqual(after.dictionaries, []);
    assert.ok(after.storedBytes < before.storedBytes, `${after.storedBytes} >= ${before.storedBytes}`);
    const store = await Store.open(path);
    try {
      assert.deepEqual(contents(store), expected);
      checkStoreInvariants(store);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
