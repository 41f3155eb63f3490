/**
 * Commands interrupted: `snapshot`, `gc`, `drop`, `optimize`, `import` and `restore`
 * are killed (SIGKILL) as each of their write transactions begins, and at random
 * moments. After every kill the store must open, verify, and read exactly as before
 * the command or exactly as after it: every revision, tag and the head.
 */
import assert from "node:assert/strict";
import { type RevNumber, type TreeView } from "../mod.ts";
import { Store } from "../store/store.ts";
import { Rng, runCli, runCliWith, sha256Hex, tempDir } from "./helpers.ts";
import { seedTree, writeRecordTree } from "./tree_model.ts";

/** Everything a reader can see in a store, as one comparable string per line. */
async function readable(path: string): Promise<string> {
  const store = await Store.open(path);
  try {
    const lines: string[] = [];
    const walk = (view: TreeView, dir: string) => {
      for (const [name, info] of view.list(dir)) {
        const p = dir ? `${dir}/${name}` : name;
        let what = `${info.type} ${info.mode.toString(8)} ${info.size}`;
        if (info.type === "symlink") what += ` -> ${info.target}`;
        if (info.type === "file") {
          const bytes = new Uint8Array(info.size);
          for (const [idx, data] of view.blocks(p)) {
            const at = idx * store.blockSize;
            bytes.set(data.subarray(0, Math.min(data.length, info.size - at)), at);
          }
          what += ` ${sha256Hex(bytes)}`;
        }
        lines.push(`${view.label}:${p}: ${what}`);
        if (info.type === "dir") walk(view, p);
      }
    };
    for (const r of store.revisions()) {
      lines.push(`revision ${r.rev} parent ${r.parent} "${r.message}" tags ${store.tagsOf(r.rev).join(",")}`);
      walk(store.revisionTree(r.rev as RevNumber), "");
    }
    walk(store.view("head"), "");
    return lines.join("\n");
  } finally {
    await store.close();
  }
}

async function copyStore(from: string, to: string): Promise<void> {
  await Deno.remove(to, { recursive: true }).catch(() => {});
  const r = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  assert.equal(r.code, 0);
}

async function verifies(path: string): Promise<string[]> {
  const store = await Store.open(path);
  try {
    return store.verify().problems;
  } finally {
    await store.close();
  }
}

interface Case {
  name: string;
  args: (store: string) => string[];
  /** gc and optimize change how data is stored, never what reads back. */
  changes: "content" | "storage";
}

/** Record counts and sizes (not the file size, which LMDB only grows). */
async function storage(path: string): Promise<string> {
  const r = await runCli("stats", path, "--json");
  return JSON.stringify({ ...JSON.parse(r.stdout), fileBytes: 0, freeBytes: 0 });
}

/**
 * Runs `c` on copies of `pristine`, killed before its 1st, 2nd, ... transaction until a
 * run finishes, then at random moments; checks every outcome. Returns how many kills
 * landed at transaction boundaries and at random moments.
 */
async function interrupt(
  dir: string,
  pristine: string,
  c: Case,
  rng: Rng,
): Promise<{ atTransactions: number; atRandom: number }> {
  const before = await readable(pristine);
  const work = `${dir}/work`;
  await copyStore(pristine, work);
  const t0 = performance.now();
  const full = await runCli(...c.args(work));
  const fullMs = performance.now() - t0;
  assert.equal(full.code, 0, `${c.name}: ${full.stderr}`);
  const after = await readable(work);
  if (c.changes === "content") assert.notEqual(after, before, `${c.name} changed nothing readable`);
  else {
    assert.equal(after, before, `${c.name} changed what reads back`);
    assert.notEqual(await storage(work), await storage(pristine), `${c.name} changed nothing stored`);
  }
  const check = async (what: string) => {
    assert.deepEqual(await verifies(work), [], `${c.name} ${what}: verify`);
    const now = await readable(work);
    assert.ok(now === before || now === after, `${c.name} ${what}: the store is between before and after`);
    return now === after;
  };
  let atTransactions = 0;
  for (let n = 1;; n++) {
    await copyStore(pristine, work);
    const r = await runCliWith({ REVFS_TEST_KILL_BEFORE_TXN: String(n) }, ...c.args(work));
    if (r.signal !== "SIGKILL") {
      assert.equal(r.code, 0, `${c.name} with no kill point left: ${r.stderr}`);
      assert.ok(await check("finished"));
      break;
    }
    atTransactions++;
    const done = await check(`killed before transaction ${n}`);
    if (c.changes === "content") assert.ok(!done || n > 1, `${c.name}: killed before its first transaction, yet done`);
    assert.ok(n < 200, `${c.name}: more than 200 transactions`);
  }
  let atRandom = 0;
  for (let i = 0; i < 3; i++) {
    await copyStore(pristine, work);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../cli.ts", import.meta.url).pathname, ...c.args(work)],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, fullMs * rng.next()));
    try {
      child.kill("SIGKILL");
    } catch {
      // already done
    }
    if ((await child.status).signal === "SIGKILL") atRandom++;
    await check(`killed at random ${i}`);
  }
  return { atTransactions, atRandom };
}

Deno.test("commands killed between any two transactions leave the store as before or as after", async (t) => {
  const dir = await tempDir("revfs-crash-cmd-");
  try {
    const rng = new Rng(77);
    const src = `${dir}/src`;
    await Deno.mkdir(src);
    seedTree(rng, src, 40);
    writeRecordTree(rng, `${src}/records`, 400);
    const base = `${dir}/base`;
    assert.equal((await runCli("import", base, src, "-m", "one")).code, 0);
    const edited = [...Deno.readDirSync(src)].filter((e) => e.isFile).slice(0, 5).map((e) => e.name);
    for (const f of edited) Deno.writeFileSync(`${src}/${f}`, rng.bytes(70_000 + rng.int(200_000)));
    Deno.writeFileSync(`${src}/big.bin`, rng.bytes(3_000_000));
    assert.equal((await runCli("import", base, src, "-m", "two")).code, 0);
    assert.equal((await runCli("tag", base, "keep", "1")).code, 0);
    // The head differs from revision 2, so a snapshot has something to commit.
    assert.equal((await runCli("restore", base, edited[0], "--rev", "1")).code, 0);
    const dropped = `${dir}/dropped`;
    await copyStore(base, dropped);
    assert.equal((await runCli("drop", dropped, "1")).code, 0);
    const next = `${dir}/next`;
    await Deno.mkdir(next);
    seedTree(rng, next, 30);

    const cases: [Case, string][] = [
      [{ name: "snapshot", changes: "content", args: (s) => ["snapshot", s, "-m", "three"] }, base],
      [{ name: "drop", changes: "content", args: (s) => ["drop", s, "1"] }, base],
      [{ name: "gc", changes: "storage", args: (s) => ["gc", s] }, dropped],
      [{ name: "import", changes: "content", args: (s) => ["import", s, next, "-m", "next"] }, base],
      [{ name: "restore", changes: "content", args: (s) => ["restore", s, edited[1], "--rev", "1"] }, base],
      [{ name: "optimize", changes: "storage", args: (s) => ["optimize", s] }, base],
    ];
    for (const [c, pristine] of cases) {
      await t.step(c.name, async () => {
        const kills = await interrupt(dir, pristine, c, rng);
        // Every command writes at least once, and a kill at a random moment of its run
        // (which takes at least the process's start-up) lands before it ends.
        assert.ok(kills.atTransactions >= 1, `${c.name}: no kill landed at a transaction boundary`);
        assert.ok(kills.atRandom >= 1, `${c.name}: none of the random kills landed before the command ended`);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
