/**
 * Metadata and random-read workloads, run as a child process so the benchmark's own
 * event loop stays free to sample the mount's memory. Prints one JSON line:
 * { ops, ms } with the time measured inside, without process startup.
 *
 *   fileops.ts create DIR FILES SEED   100 directories, FILES files of 1-4 KiB
 *   fileops.ts stat DIR FILES          stat every file create made
 *   fileops.ts randread FILE READS SEED  4 KiB reads at random 4 KiB-aligned offsets
 */
import { Rng } from "../../tests/helpers.ts";

const [what, target, countArg, seedArg] = Deno.args;
const count = Number(countArg);
const DIRS = 100;
const pathOf = (i: number) => `${target}/d${i % DIRS}/f${i}`;

let ms = 0;
if (what === "create") {
  const rng = new Rng(Number(seedArg));
  const payloads = Array.from({ length: 64 }, () => rng.bytes(1024 + rng.int(3072)));
  const t0 = performance.now();
  for (let d = 0; d < DIRS; d++) Deno.mkdirSync(`${target}/d${d}`, { recursive: true });
  for (let i = 0; i < count; i++) {
    const data = payloads[i % payloads.length];
    data[0] = i & 255; // every file its own content
    data[1] = (i >> 8) & 255;
    Deno.writeFileSync(pathOf(i), data);
  }
  ms = performance.now() - t0;
} else if (what === "stat") {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    if (!Deno.statSync(pathOf(i)).isFile) throw new Error(`${pathOf(i)} is not a file`);
  }
  ms = performance.now() - t0;
} else if (what === "randread") {
  const rng = new Rng(Number(seedArg));
  const f = Deno.openSync(target, { read: true });
  const blocks = Math.floor(f.statSync().size / 4096);
  const buf = new Uint8Array(4096);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    f.seekSync(rng.int(blocks) * 4096, Deno.SeekMode.Start);
    let got = 0;
    while (got < 4096) {
      const n = f.readSync(buf.subarray(got));
      if (n === null) throw new Error("short read");
      got += n;
    }
  }
  ms = performance.now() - t0;
  f.close();
} else {
  throw new Error(`unknown workload ${what}`);
}
console.log(JSON.stringify({ ops: count, ms }));
