/**
 * What a read checks (format 7): a block record's own checksum on every read, its
 * SHA-256 name under `verify`, `export` and `mount --verify-reads`; records written
 * before format 7 are checked by name until `optimize` re-encodes them.
 */
import assert from "node:assert/strict";
import {
  decodeBlockRecord,
  deltaBaseOf,
  encodeBlock,
  encodeBlockRecord,
  isUnchecked,
} from "../store/blocks/block_codec.ts";
import { compressWithDict, decompress, hasContentChecksum, initZstd } from "../store/blocks/zstd.ts";
import { FORMAT_VERSION, Store } from "../store/store.ts";
import { type BlockHash, fileChunks, type FileEntry, type RevNumber, ROOT_INO } from "../mod.ts";
import { concatBytes, everyRevision, Rng, runCli, runCliWith, storeTest, tempDir, type TestStore } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

const FORMAT_KEY = new TextEncoder().encode("format");

/** Three revisions of text, random and tiny files (zstd, raw and delta records), and a head-only change. */
async function seedHistory(ts: TestStore): Promise<void> {
  const src = `${ts.dir}/src`;
  await Deno.mkdir(`${src}/docs`, { recursive: true });
  const rng = new Rng(21);
  const text = rng.bytes(200_000, "text");
  await Deno.writeFile(`${src}/random.bin`, rng.bytes(150_000));
  await Deno.writeFile(`${src}/tiny.txt`, new TextEncoder().encode("tiny\n"));
  for (let v = 0; v < 3; v++) {
    text.set(rng.bytes(300, "text"), 10_000 + v * 70_000);
    await Deno.writeFile(`${src}/docs/notes.txt`, text);
    await ts.store.importDir(src, "");
  }
  const docs = ts.store.head.lookup(ROOT_INO, "docs")!;
  ts.store.head.write(ts.store.head.lookup(docs, "notes.txt")!, 5, rng.bytes(100, "text"));
  await ts.store.flush();
}

function readHead(store: Store, path: string): Uint8Array {
  return concatBytes(fileChunks(store.view("head"), path, store.blockSize));
}

/** Rewrites every block record as format 6 wrote it (no checksums) and labels the store format 6. */
function toFormat6(store: Store): number {
  const { records } = store.parts;
  let n = 0;
  records.write(() => {
    for (const [k, v] of [...records.range("blocks")].map(([k, v]) => [k.slice(), v.slice()])) {
      const r = decodeBlockRecord(v, "block");
      const strip = (frame: Uint8Array) => {
        const f = frame.slice(0, frame.length - 4);
        f[4] &= ~0x04;
        return f;
      };
      let out: Uint8Array;
      if (r.kind === "raw") out = new Uint8Array([0, ...r.data]);
      else if (r.kind === "zstd") out = new Uint8Array([1, ...strip(r.frame)]);
      else if (r.kind === "zstd-dict") out = new Uint8Array([2, ...v.subarray(1, v.length - r.frame.length)]);
      else out = new Uint8Array([3, ...r.base, ...strip(r.frame)]);
      if (r.kind === "zstd-dict") out = new Uint8Array([...out, ...strip(r.frame)]);
      records.put("blocks", k, out);
      n++;
    }
    records.put("meta", FORMAT_KEY, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 6]));
  });
  return n;
}

function blockKinds(store: Store): { unchecked: number; checked: number; kinds: Set<string> } {
  const out = { unchecked: 0, checked: 0, kinds: new Set<string>() };
  for (const [, v] of store.parts.records.range("blocks")) {
    if (isUnchecked(v)) out.unchecked++;
    else out.checked++;
    out.kinds.add(decodeBlockRecord(v, "block").kind);
  }
  return out;
}

Deno.test("records encoded one after another keep their own frames (a frame may be the compressor's reused buffer)", async () => {
  await initZstd();
  const rng = new Rng(5);
  const blocks = Array.from({ length: 6 }, (_, i) => rng.bytes(20_000 + i * 7_000, "text"));
  const records = blocks.map((b) => encodeBlockRecord(encodeBlock(b)));
  blocks.forEach((b, i) => {
    const r = decodeBlockRecord(records[i], `block ${i}`);
    assert.equal(r.kind, "zstd");
    if (r.kind === "zstd") assert.deepEqual(decompress(r.frame), b);
  });
});

storeTest(
  "records check themselves: raw ones by XXH3-64, compressed ones and deltas by their frame's checksum",
  async (ts) => {
    await seedHistory(ts);
    const { unchecked, checked, kinds } = blockKinds(ts.store);
    assert.equal(unchecked, 0);
    assert.ok(checked > 5, `only ${checked} block records`);
    assert.deepEqual([...kinds].sort(), ["delta", "raw", "zstd"]);
    for (const [, v] of ts.store.parts.records.range("blocks")) {
      const r = decodeBlockRecord(v, "block");
      assert.equal(r.check.by, r.kind === "raw" ? "xxh3" : "frame");
      if (r.kind !== "raw") assert.ok(hasContentChecksum(r.frame));
    }
  },
);

storeTest(
  "a raw block reads in place, checked and not copied; other records, and --verify-reads, are not read that way",
  async (ts) => {
    await seedHistory(ts);
    const { store } = ts;
    const byKind = new Map<string, BlockHash>();
    for (const [k, v] of store.parts.records.range("blocks")) {
      byKind.set(decodeBlockRecord(v, "block").kind, k.slice() as BlockHash);
    }
    const raw = byKind.get("raw")!;
    const buffer = () => new Uint8Array(store.blockSize);
    const reply = store.readBlockForReply(raw, () => assert.fail("a raw block asked for a buffer"));
    const expected = store.readBlock(raw).slice();
    assert.equal(reply.inPlace, true);
    assert.deepEqual(reply.data, expected);
    assert.equal(reply.data.length, store.blockSize);
    assert.ok(reply.data.byteOffset > 0, "a copy, not a view of the record past its header");
    for (const kind of ["zstd", "delta"]) {
      const h = byKind.get(kind)!;
      const other = store.readBlockForReply(h, buffer);
      assert.equal(other.inPlace, false, kind);
      assert.deepEqual(other.data, store.readBlock(h), kind);
    }

    const original = store.parts.records.get("blocks", raw)!.slice();
    const bad = original.slice();
    bad[original.length - 100] ^= 0x10;
    store.parts.records.write(() => store.parts.records.put("blocks", raw, bad));
    assert.throws(() => store.readBlockForReply(raw, buffer), /corrupt, its bytes do not match their checksum/);
    store.parts.records.write(() => store.parts.records.put("blocks", raw, original));
    await store.close();

    const verifying = await Store.open(`${ts.dir}/store`, { verifyReads: true });
    try {
      const verified = verifying.readBlockForReply(raw, () => new Uint8Array(verifying.blockSize));
      assert.equal(verified.inPlace, false, "--verify-reads hashes a copy it keeps");
      assert.deepEqual(verified.data, expected);
      assert.deepEqual(verifying.readBlock(raw), expected);
    } finally {
      await verifying.close();
    }
  },
);

storeTest(
  "a format 6 store reads and verifies as it is; a damaged old record is found by its hash; optimize converts every record",
  async (ts) => {
    await seedHistory(ts);
    const expected = everyRevision(ts.store);
    const headNotes = readHead(ts.store, "docs/notes.txt");
    const total = toFormat6(ts.store);
    await ts.store.close();
    const dir = `${ts.dir}/store`;

    const old = await Store.open(dir);
    try {
      assert.equal(blockKinds(old).unchecked, total);
      assert.deepEqual(everyRevision(old), expected);
      assert.deepEqual(old.verify().problems, []);
    } finally {
      await old.close();
    }
    // A flipped byte in an old record: its SHA-256 no longer matches, whatever the kind.
    const w = await Store.open(dir, { write: true });
    try {
      assert.equal(w.parts.records.get("meta", FORMAT_KEY)![7], FORMAT_VERSION, "relabelled when opened for writing");
      const raw = [...w.parts.records.range("blocks")].find(([, v]) => v[0] === 0)!;
      const key = raw[0].slice() as BlockHash;
      const original = raw[1].slice();
      const bad = original.slice();
      bad[bad.length >> 1] ^= 0x01;
      w.parts.records.write(() => w.parts.records.put("blocks", key, bad));
      assert.throws(() => w.readBlock(key), /corrupt, its content hashes to/);
      assert.throws(
        () => w.readBlockForReply(key, () => new Uint8Array(w.blockSize)),
        /corrupt, its content hashes to/,
      );
      w.parts.records.write(() => w.parts.records.put("blocks", key, original));

      const r = w.optimize();
      assert.equal(r.converted, total, "every block record converted");
      const after = blockKinds(w);
      assert.equal(after.unchecked, 0);
      assert.deepEqual(everyRevision(w), expected);
      assert.deepEqual(readHead(w, "docs/notes.txt"), headNotes);
      assert.deepEqual(w.verify().problems, []);
      // A second run has nothing left to convert.
      assert.equal(w.optimize().converted, 0);
    } finally {
      await w.close();
    }
  },
);

storeTest(
  "a record filed under another block's name passes its own checksum; verify, export and --verify-reads catch it",
  async (ts) => {
    await seedHistory(ts);
    const { store } = ts;
    const entry = (path: string) => store.revisionTree(1 as RevNumber).entry(path) as FileEntry;
    const victim = store.entryBlock(entry("random.bin"), 1)!;
    const other = store.entryBlock(entry("random.bin"), 0)!;
    const original = store.parts.records.get("blocks", victim)!.slice();
    store.parts.records.write(() =>
      store.parts.records.put("blocks", victim, store.parts.records.get("blocks", other)!)
    );
    // The fast path checks the record, which is sound: it reads the other block's bytes.
    assert.deepEqual(store.readBlock(victim), store.readBlock(other));
    const problems = store.verify().problems;
    assert.ok(problems.some((p) => p.includes("random.bin") && p.includes("hashes to")), problems.join("\n"));
    await store.close();
    const dir = `${ts.dir}/store`;

    const exported = await runCli("export", dir, "1", `${ts.dir}/out`);
    assert.equal(exported.code, 1, "export wrote a file whose block is not what its name says");
    assert.match(
      exported.stderr,
      /^revfs: random\.bin, revision 1, block [0-9a-f]+: corrupt, its content hashes to [0-9a-f]+\n$/,
    );
    assert.deepEqual([...Deno.readDirSync(ts.dir)].map((e) => e.name).filter((n) => n.startsWith("out")), []);

    const mnt = `${ts.dir}/mnt`;
    await withMount(dir, mnt, async () => {
      const r = await sh(`cat '${mnt}/.snapshots/1/random.bin' > /dev/null`);
      assert.equal(r.code, 0, "without --verify-reads the record's own checksum is all a read checks");
    });
    await withMount(dir, mnt, async () => {
      const r = await sh(`cat '${mnt}/.snapshots/1/random.bin' > /dev/null`);
      assert.notEqual(r.code, 0, "--verify-reads read a block that does not hash to its name");
      assert.match(r.stderr, /Input\/output error/);
      assert.equal((await sh(`head -c 65536 '${mnt}/.snapshots/1/random.bin' | wc -c`)).stdout.trim(), "65536");
    }, ["--verify-reads"]);

    const again = await Store.open(dir, { write: true });
    try {
      again.parts.records.write(() => again.parts.records.put("blocks", victim, original));
      assert.deepEqual(again.verify().problems, []);
    } finally {
      await again.close();
    }
  },
);

Deno.test("a store written with the portable checksum, zstd and SHA-256 reads and verifies with the native ones, and back", async () => {
  const dir = await tempDir("revfs-wasm-");
  try {
    const wasm = { REVFS_XXHASH: "wasm", REVFS_ZSTD: "wasm", REVFS_SHA256: "node" };
    const src = `${dir}/src`;
    await Deno.mkdir(src);
    const rng = new Rng(4);
    const text = rng.bytes(90_000, "text");
    await Deno.writeFile(`${src}/w.txt`, text);
    await Deno.writeFile(`${src}/w.bin`, rng.bytes(90_000));
    const store = `${dir}/store`;
    for (const args of [["init", store], ["import", store, src]]) {
      const r = await runCliWith(wasm, ...args);
      assert.equal(r.code, 0, r.stderr);
    }
    for (const env of [{}, wasm]) {
      const v = await runCliWith(env, "verify", store);
      assert.equal(v.code, 0, `${JSON.stringify(env)}: ${v.stderr}`);
      const cat = await runCliWith(env, "cat", store, "w.txt");
      assert.equal(cat.stdout, new TextDecoder().decode(text));
    }
    // A raw record damaged is found by either implementation.
    const s = await Store.open(store, { write: true });
    const key = s.entryBlock(s.revisionTree(1 as RevNumber).entry("w.bin") as FileEntry, 0)!;
    assert.equal(decodeBlockRecord(s.parts.records.get("blocks", key)!, "block").check.by, "xxh3");
    const bad = s.parts.records.get("blocks", key)!.slice();
    bad[100] ^= 0x08;
    s.parts.records.write(() => s.parts.records.put("blocks", key, bad));
    await s.close();
    for (const env of [{}, wasm]) {
      const cat = await runCliWith(env, "cat", store, "w.bin");
      assert.equal(cat.code, 1, JSON.stringify(env));
      assert.match(cat.stderr, /^revfs: w\.bin, block [0-9a-f]+: corrupt, its bytes do not match their checksum\n$/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

storeTest(
  "a delta chain's lower steps are not checked one by one: a wrong but well-formed step fails the block read on top",
  async (ts) => {
    const { store } = ts;
    const src = `${ts.dir}/src`;
    await Deno.mkdir(src);
    const rng = new Rng(5);
    const text = rng.bytes(60_000, "text");
    for (let v = 0; v < 4; v++) {
      text.set(rng.bytes(200, "text"), 1_000 + v * 300);
      await Deno.writeFile(`${src}/a.txt`, text);
      await store.importDir(src, "");
    }
    // Block 0 of revision 1 is the top of a chain: three deltas down to revision 4's whole record.
    const chain = [store.entryBlock(store.revisionTree(1 as RevNumber).entry("a.txt") as FileEntry, 0)!];
    for (;;) {
      const base = deltaBaseOf(store.parts.records.get("blocks", chain[chain.length - 1])!);
      if (!base) break;
      chain.push(base.slice() as BlockHash);
    }
    assert.equal(chain.length, 4);
    const bytes = chain.map((h) => store.readBlock(h).slice());
    // Each lower step in turn replaced by a record that decodes and checks out on its own,
    // to other bytes (every byte off: text repeats, so the top may not copy any one byte).
    for (let i = 1; i < chain.length; i++) {
      const original = store.parts.records.get("blocks", chain[i])!.slice();
      const wrong = bytes[i].map((b) => b ^ 0x20);
      const record = i === chain.length - 1
        ? encodeBlockRecord(encodeBlock(wrong))
        : encodeBlockRecord({ kind: "delta", base: chain[i + 1], frame: compressWithDict(wrong, bytes[i + 1]) });
      store.parts.records.write(() => store.parts.records.put("blocks", chain[i], record));
      assert.throws(() => store.readBlock(chain[0]), /corrupt/, `step ${i} of the chain is wrong`);
      store.parts.records.write(() => store.parts.records.put("blocks", chain[i], original));
      assert.deepEqual(store.readBlock(chain[0]), bytes[0]);
    }
  },
);
