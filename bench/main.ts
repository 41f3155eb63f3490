/**
 * `deno task bench [--quick] [--only fileio,versioning,scaling]`: revfs beside a local
 * directory, bindfs, git, restic and borg, on the same work in one run. Prints the
 * Markdown report and writes bench/results/latest.{json,md} and the SVG charts.
 * Installs nothing: the peers come from .ci/setup; a missing one is skipped and named
 * in the report. Needs root (drop_caches, FUSE). A full run also replaces the results
 * blocks of docs/BENCHMARKS.md and the README; `--render` rebuilds everything from
 * latest.json.
 */
import { fileIo, IO_FULL, IO_QUICK } from "./fileio.ts";
import { machine, revfsCommit, toolVersions } from "./lib/machine.ts";
import { unmountAll } from "./lib/mounts.ts";
import { restoreWakeHere } from "./lib/wake_here.ts";
import { peersPresent } from "./lib/peers.ts";
import { type BenchResults, charts, headline, markdown } from "./report.ts";
import { historyReads } from "./history_reads.ts";
import { scaling, SCALING_FULL, SCALING_QUICK } from "./scaling.ts";
import { npmHistory, repoHistory } from "./real_histories.ts";
import { binaryHistory, HISTORY_FULL, HISTORY_QUICK, sourceHistory } from "./versioning.ts";

const quick = Deno.args.includes("--quick");
const resultsDir = new URL("./results", import.meta.url).pathname;

// --render: rebuild the report, charts and results blocks from latest.json, measuring nothing.
if (Deno.args.includes("--render")) {
  const saved = JSON.parse(await Deno.readTextFile(`${resultsDir}/latest.json`)) as BenchResults;
  await writeResults(saved);
  Deno.exit(0);
}

const onlyAt = Deno.args.indexOf("--only");
const only = new Set((onlyAt >= 0 ? Deno.args[onlyAt + 1] : "fileio,versioning,scaling").split(","));
const t0 = performance.now();
const log = (s: string) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);

const work = await Deno.makeTempDir({ prefix: "revfs-bench-" });
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await restoreWakeHere();
  await unmountAll();
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, async () => {
    console.error(`\n${sig}: unmounting and removing ${work}`);
    await cleanup();
    Deno.exit(130);
  });
}

const present = await peersPresent();
const skipped = Object.entries(present).filter(([, ok]) => !ok).map(([p]) => p);
const results: BenchResults = {
  mode: quick ? "quick" : "full",
  startedAt: new Date().toISOString(),
  durationS: 0,
  command: `deno task bench${quick ? " --quick" : ""}`,
  machine: await machine(work),
  tools: await toolVersions(),
  revfsCommit: await revfsCommit(),
  skipped,
};

try {
  if (only.has("fileio")) {
    if (!present.sqlite3) throw new Error("file I/O needs sqlite3 (bash .ci/setup installs it)");
    log("file I/O: local, bindfs, revfs");
    const io = quick ? IO_QUICK : IO_FULL;
    const measured = await fileIo(`${work}/io`, io, present.bindfs, log);
    results.fileIo = measured.rows;
    results.fileIoWakeHere = measured.otherWakeHere;
    log("file I/O: reading history, revfs");
    results.historyReads = await historyReads(`${work}/history-reads`, io.seqBytes, io.reps, log);
  }
  if (only.has("versioning")) {
    log("versioning: source tree");
    const h = quick ? HISTORY_QUICK : HISTORY_FULL;
    results.histories = [await sourceHistory(`${work}/source`, h, present, log)];
    log("versioning: binary file");
    results.histories.push(await binaryHistory(`${work}/binary`, h, present, log));
    log("versioning: binary file, saved as a new file renamed over the old");
    results.histories.push(await binaryHistory(`${work}/binary-renamed`, h, present, log, "new file + rename"));
    log("versioning: this repository's history");
    results.histories.push(await repoHistory(`${work}/repo`, h, present, log));
    log("versioning: npm releases");
    try {
      results.histories.push(await npmHistory(`${work}/npm`, h, present, log));
    } catch (e) {
      // The tarballs come from the npm registry: without it, say so and go on.
      log(`  skipped: ${(e as Error).message}`);
      results.skipped.push(`npm history (${(e as Error).message.split("\n")[0]})`);
    }
  }
  if (only.has("scaling")) {
    log("scaling");
    results.scaling = await scaling(`${work}/scaling`, quick ? SCALING_QUICK : SCALING_FULL, present, log);
  }
} finally {
  await cleanup();
}

results.durationS = (performance.now() - t0) / 1000;
console.log(await writeResults(results));
log(`done; results in ${resultsDir}`);

async function writeResults(r: BenchResults): Promise<string> {
  await Deno.mkdir(resultsDir, { recursive: true });
  const md = markdown(r);
  await Deno.writeTextFile(`${resultsDir}/latest.json`, JSON.stringify(r, null, 1) + "\n");
  await Deno.writeTextFile(`${resultsDir}/latest.md`, md);
  for (const [name, svg] of Object.entries(charts(r))) await Deno.writeTextFile(`${resultsDir}/${name}`, svg);
  if (r.mode === "full" && r.fileIo && r.histories && r.scaling) {
    const charts = md.replaceAll("](", "](../bench/results/").replaceAll("](../bench/results/http", "](http");
    await replaceBlock("../docs/BENCHMARKS.md", charts);
    await replaceBlock("../README.md", headline(r));
  }
  return md;
}

/**
 * A full run replaces the results block of docs/BENCHMARKS.md (the whole report) and of
 * the README (its headline), so both show the latest full run.
 */
async function replaceBlock(file: string, block: string): Promise<void> {
  const path = new URL(file, import.meta.url).pathname;
  const text = await Deno.readTextFile(path);
  const start = "<!-- bench:start -->", end = "<!-- bench:end -->";
  const a = text.indexOf(start), b = text.indexOf(end);
  if (a < 0 || b < a) return console.error(`${file} has no bench block; not updated`);
  await Deno.writeTextFile(path, `${text.slice(0, a + start.length)}\n${block}${text.slice(b)}`);
  console.error(`${file}: results block updated`);
}
