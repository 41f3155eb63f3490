/** Corruption: a flipped byte in any stored record is found by verify, which names the path. */
import assert from "node:assert/strict";
import { fileChunks, importDir, type RevNumber, type Store } from "../mod.ts";
import { newTestStore, Rng, runCli } from "./helpers.ts";

async function storeWithTwoFiles(): Promise<{ store: Store; dir: string; cleanup(): Promise<void> }> {
  const ts = await newTestStore();
  const src = `${ts.dir}/src`;
  await Deno.mkdir(`${src}/docs`, { recursive: true });
  const rng = new Rng(9);
  await Deno.writeFile(`${src}/docs/report.txt`, rng.bytes(150_000, "text"));
  await Deno.writeFile(`${src}/other.bin`, rng.bytes(100_000));
  await importDir(ts.store, src, "");
  return ts;
}

function flipByte(store: Store, table: "blocks" | "pages", key: Uint8Array, at: number): void {
  const v = store.records.get(table, key)!.slice();
  v[at % v.length] ^= 0x40;
  store.records.write(() => store.records.put(table, key, v));
}

Deno.test("verify: a flipped byte in a block names the revision and path; other files still read", async () => {
  const ts = await storeWithTwoFiles();
  try {
    const { store } = ts;
    assert.deepEqual(store.verify().problems, []);
    const view = store.view(1 as RevNumber);
    const report1 = store.revisionView(1 as RevNumber).entry("docs/report.txt");
    assert.equal(report1.type, "file");
    const [, block] = [...store.maps.present(report1.type === "file" ? report1.content : null)][1];
    flipByte(store, "blocks", block, 200);
    const report = store.verify();
    assert.ok(report.problems.length >= 1);
    assert.ok(
      report.problems.some((p) => p.includes("revision 1") && p.includes("docs/report.txt")),
      report.problems.join("\n"),
    );
    assert.ok(!report.problems.some((p) => p.includes("other.bin")));
    // Reading the damaged file fails with a clear error; the other file reads fine.
    assert.throws(() => [...fileChunks(view, "docs/report.txt", store.blockSize)], /corrupt/);
    assert.equal([...fileChunks(view, "other.bin", store.blockSize)].reduce((n, c) => n + c.length, 0), 100_000);
    await store.close();
    const cli = await runCli("verify", `${ts.dir}/store`);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /docs\/report\.txt/);
    const cat = await runCli("cat", `${ts.dir}/store`, "docs/report.txt", "--rev", "1");
    assert.equal(cat.code, 1);
    assert.equal(cat.stdout, "", "cat wrote part of a damaged file");
    assert.match(cat.stderr, /^revfs: block [0-9a-f]+ is corrupt/);
  } finally {
    await ts.cleanup();
  }
});

Deno.test("verify: a flipped byte in a directory page is found", async () => {
  const ts = await storeWithTwoFiles();
  try {
    const { store } = ts;
    const docs = store.revisionView(1 as RevNumber).entry("docs");
    if (docs.type !== "dir" || docs.content === null) throw new Error("docs is not a non-empty directory");
    flipByte(store, "pages", docs.content, 5);
    const report = store.verify();
    assert.ok(report.problems.some((p) => p.includes("revision 1") && p.includes("docs")), report.problems.join("\n"));
  } finally {
    await ts.cleanup();
  }
});
