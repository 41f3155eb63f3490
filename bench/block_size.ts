/**
 * Which default block size: the same two histories stored at several block sizes in
 * one run. Reports import and read throughput, stored growth per version, and tree
 * page overhead. Run: deno task bench-block-size
 */
import { fileChunks } from "../mod.ts";
import { Store } from "../store/store.ts";
import { Rng } from "../tests/helpers.ts";

const SIZES_KIB = [16, 32, 64, 128, 256];
const BIN_BYTES = 64 << 20;
const BIN_VERSIONS = 8;
const SRC_FILES = 1500;
const SRC_COMMITS = 15;

function semiCompressible(rng: Rng, n: number): Uint8Array {
  // Half text-like, half random: roughly what model checkpoints and datasets look like.
  const out = rng.bytes(n);
  for (let off = 0; off < n; off += 8192) if (rng.chance(0.5)) out.set(rng.bytes(Math.min(8192, n - off), "text"), off);
  return out;
}

async function history(root: string) {
  const rng = new Rng(42);
  const bin = `${root}/bin`;
  const src = `${root}/src`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.mkdir(src, { recursive: true });
  const binVersions: Uint8Array[] = [semiCompressible(rng, BIN_BYTES)];
  for (let v = 1; v < BIN_VERSIONS; v++) {
    const next = binVersions[v - 1].slice();
    for (let k = 0; k < (BIN_BYTES / 4096) / 100; k++) next.set(rng.bytes(4096), rng.int(BIN_BYTES / 4096) * 4096);
    binVersions.push(next);
  }
  const srcFiles = Array.from({ length: SRC_FILES }, () => rng.bytes(1000 + rng.int(30_000), "text"));
  return { bin, src, binVersions, srcFiles, rng };
}

const root = await Deno.makeTempDir({ prefix: "revfs-bench-bs-" });
try {
  const h = await history(root);
  console.log(
    `| block size | import MB/s | read MB/s | growth per binary version (1% rewritten = ${
      ((BIN_BYTES / 100) / 2 ** 20).toFixed(2)
    } MiB) | growth per source commit (10 files edited) | pages after all |`,
  );
  console.log("|---|---|---|---|---|---|");
  for (const kib of SIZES_KIB) {
    const store = await Store.init(`${root}/store-${kib}`, { blockSize: kib * 1024 });
    // Binary history.
    await Deno.writeFile(`${h.bin}/model.ckpt`, h.binVersions[0]);
    let t = performance.now();
    await store.importDir(h.bin, "v0");
    const importMBs = BIN_BYTES / 1e6 / ((performance.now() - t) / 1000);
    let stored = store.stats().storedBytes;
    let growth = 0;
    for (let v = 1; v < BIN_VERSIONS; v++) {
      await Deno.writeFile(`${h.bin}/model.ckpt`, h.binVersions[v]);
      await store.importDir(h.bin, `v${v}`);
      const now = store.stats().storedBytes;
      growth += now - stored;
      stored = now;
    }
    t = performance.now();
    let n = 0;
    for (const c of fileChunks(store.view("head"), "model.ckpt", store.blockSize)) n += c.length;
    const readMBs = n / 1e6 / ((performance.now() - t) / 1000);
    // Source-like history.
    const rng = new Rng(7);
    const files = h.srcFiles.map((f) => f.slice());
    files.forEach((f, i) => Deno.writeFileSync(`${h.src}/f${i}.txt`, f));
    const bin2 = `${root}/only-src-${kib}`;
    await Deno.mkdir(bin2);
    await Deno.rename(h.src, `${bin2}/src`);
    await store.importDir(bin2, "src 0");
    let srcStored = store.stats().storedBytes;
    let srcGrowth = 0;
    for (let c = 0; c < SRC_COMMITS; c++) {
      for (let k = 0; k < 10; k++) {
        const i = rng.int(files.length);
        const f = files[i];
        f.set(rng.bytes(Math.min(200, f.length), "text"), rng.int(Math.max(1, f.length - 200)));
        Deno.writeFileSync(`${bin2}/src/f${i}.txt`, f);
      }
      await store.importDir(bin2, `src ${c + 1}`);
      const now = store.stats().storedBytes;
      srcGrowth += now - srcStored;
      srcStored = now;
    }
    await Deno.rename(`${bin2}/src`, h.src);
    const st = store.stats();
    console.log(
      `| ${kib} KiB | ${importMBs.toFixed(0)} | ${readMBs.toFixed(0)} | ${
        (growth / (BIN_VERSIONS - 1) / 2 ** 20).toFixed(2)
      } MiB | ${(srcGrowth / SRC_COMMITS / 1024).toFixed(1)} KiB | ${st.pages} |`,
    );
    await store.close();
    await Deno.remove(`${root}/store-${kib}`, { recursive: true });
  }
} finally {
  await Deno.remove(root, { recursive: true });
}
