/**
 * What deltas and dictionaries save: the same two synthetic histories stored three
 * ways in one run — deltas and dictionaries off, deltas on, deltas and dictionaries
 * on (optimize after the history) — reporting stored bytes per revision.
 *
 * - source: a tree of 300 text files in 20 directories, edited over 500 commits (1-4
 *   files per commit: in-place edits, insertions, appends, a new or deleted file);
 * - binary: a 64 MiB file with 50 versions, each rewriting 1% at random 4 KiB-aligned
 *   offsets (fixed seed).
 *
 * Run: deno task bench-history [--quick]   (quick: 100 commits, 16 MiB, 20 versions)
 */
import { type Ino, ROOT_INO } from "../mod.ts";
import { Store } from "../store/store.ts";
import { readHead, Rng } from "../tests/helpers.ts";

const quick = Deno.args.includes("--quick");
const COMMITS = quick ? 100 : 500;
const BIN_BYTES = (quick ? 16 : 64) << 20;
const BIN_VERSIONS = quick ? 20 : 50;

type Mode = "plain" | "deltas" | "deltas+dicts";
const MODES: Mode[] = ["plain", "deltas", "deltas+dicts"];

function file(store: Store, parent: Ino, name: string): Ino {
  return store.head.create(parent, name, { type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n }).ino;
}

function setContent(store: Store, ino: Ino, data: Uint8Array): void {
  store.head.write(ino, 0, data);
  store.head.setattr(ino, { size: data.length });
}

async function sourceHistory(mode: Mode, dir: string) {
  const store = await Store.init(`${dir}/src-${mode}`);
  store.parts.blocks.deltasEnabled = mode !== "plain";
  const rng = new Rng(2026);
  const dirs: Ino[] = [];
  for (let d = 0; d < 20; d++) {
    dirs.push(store.head.create(ROOT_INO, `pkg${d}`, { type: "dir", mode: 0o755, uid: 0, gid: 0, mtimeNs: 0n }).ino);
  }
  const exts = [".ts", ".md", ".json"];
  const files: { ino: Ino; data: Uint8Array; parent: Ino; name: string }[] = [];
  let serial = 0;
  const add = () => {
    const parent = rng.pick(dirs);
    const name = `f${serial++}${rng.pick(exts)}`;
    const data = rng.bytes(2000 + rng.int(28_000), "text");
    const ino = file(store, parent, name);
    setContent(store, ino, data);
    files.push({ ino, data, parent, name });
  };
  for (let i = 0; i < 300; i++) add();
  store.snapshot("initial");
  let logical = 0;
  const start = store.stats().storedBytes;
  const t0 = performance.now();
  for (let c = 0; c < COMMITS; c++) {
    for (let k = 1 + rng.int(4); k > 0; k--) {
      const f = rng.pick(files);
      const op = rng.int(10);
      let next: Uint8Array;
      if (op < 5) {
        next = f.data.slice();
        next.set(rng.bytes(20 + rng.int(400), "text"), rng.int(Math.max(1, f.data.length - 420)));
      } else if (op < 8) {
        const at = rng.int(f.data.length);
        const ins = rng.bytes(10 + rng.int(500), "text");
        next = new Uint8Array(f.data.length + ins.length);
        next.set(f.data.subarray(0, at));
        next.set(ins, at);
        next.set(f.data.subarray(at), at + ins.length);
      } else {
        next = new Uint8Array(f.data.length + 300);
        next.set(f.data);
        next.set(rng.bytes(300, "text"), f.data.length);
      }
      f.data = next;
      setContent(store, f.ino, next);
    }
    if (rng.chance(0.05)) add();
    if (rng.chance(0.03) && files.length > 50) {
      const f = files.splice(rng.int(files.length), 1)[0];
      store.head.remove(f.parent, f.name, false);
    }
    store.snapshot(`commit ${c}`);
    logical += files.reduce((n, f) => n + f.data.length, 0);
  }
  const ms = performance.now() - t0;
  if (mode === "deltas+dicts") store.optimize();
  const st = store.stats();
  await store.close();
  return {
    perCommit: (st.storedBytes - start) / COMMITS,
    total: st.storedBytes,
    ratio: logical / st.storedBytes,
    snapshotMs: ms / COMMITS,
    maxChain: st.maxChainDepth,
    dicts: st.dictionaries.length,
  };
}

async function binaryHistory(mode: Mode, dir: string) {
  const store = await Store.init(`${dir}/bin-${mode}`);
  store.parts.blocks.deltasEnabled = mode !== "plain";
  const rng = new Rng(64);
  const ino = file(store, ROOT_INO, "model.bin");
  for (let off = 0; off < BIN_BYTES; off += 1 << 20) store.head.write(ino, off, rng.bytes(1 << 20));
  store.snapshot("v0");
  let prev = store.stats().storedBytes;
  const growth: number[] = [];
  let rewrittenTotal = 0;
  const t0 = performance.now();
  for (let v = 1; v < BIN_VERSIONS; v++) {
    // Rewrites are applied to a copy per block, as a page cache would hand them over.
    const touched = new Map<number, Uint8Array>();
    let rewritten = 0;
    for (let k = 0; k < BIN_BYTES / 4096 / 100; k++) {
      const off = rng.int(BIN_BYTES / 4096) * 4096;
      const block = Math.floor(off / store.blockSize);
      if (!touched.has(block)) touched.set(block, readHead(store, ino, block * store.blockSize, store.blockSize));
      touched.get(block)!.set(rng.bytes(4096), off - block * store.blockSize);
      rewritten += 4096;
    }
    for (const [block, data] of touched) store.head.write(ino, block * store.blockSize, data);
    store.snapshot(`v${v}`);
    const now = store.stats().storedBytes;
    growth.push((now - prev) / rewritten);
    rewrittenTotal += rewritten;
    prev = now;
  }
  const ms = performance.now() - t0;
  if (mode === "deltas+dicts") store.optimize();
  const st = store.stats();
  await store.close();
  growth.sort((a, b) => a - b);
  return {
    growthMedian: growth[Math.floor(growth.length / 2)],
    growthP95: growth[Math.floor(growth.length * 0.95)],
    perVersion: (st.storedBytes - BIN_BYTES) / (BIN_VERSIONS - 1),
    rewrittenPerVersion: rewrittenTotal / (BIN_VERSIONS - 1),
    snapshotMs: ms / (BIN_VERSIONS - 1),
    maxChain: st.maxChainDepth,
  };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const dir = await Deno.makeTempDir({ prefix: "revfs-bench-history-" });
try {
  console.log(`source tree: 300 files, ${COMMITS} commits; binary: ${BIN_BYTES >> 20} MiB, ${BIN_VERSIONS} versions\n`);
  console.log(
    "| mode | source: stored per commit | source: logical/stored | source: snapshot ms | binary: growth / rewritten (median, p95) | binary: stored per version | longest chain |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const mode of MODES) {
    const s = await sourceHistory(mode, dir);
    const b = await binaryHistory(mode, dir);
    console.log(
      `| ${mode} | ${kib(s.perCommit)} | ${s.ratio.toFixed(1)} | ${s.snapshotMs.toFixed(1)} | ${
        b.growthMedian.toFixed(2)
      }x, ${b.growthP95.toFixed(2)}x | ${kib(b.perVersion)} (rewritten ${kib(b.rewrittenPerVersion)}) | ${
        Math.max(s.maxChain, b.maxChain)
      } |`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
