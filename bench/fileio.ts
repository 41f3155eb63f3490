/**
 * File I/O through the mount, side by side with a local directory and bindfs (a C
 * libfuse filesystem) over a local directory: the same files, the same programs, the
 * three targets interleaved within each repetition so machine noise hits them alike.
 * "Cold" means a fresh mount (no user-space cache) after dropping the kernel's caches.
 */
import { SourceText } from "./lib/workloads.ts";
import { bindfsTarget, localTarget, type MountMemory, RevfsTarget, type Target } from "./lib/mounts.ts";
import { dropCaches, MiB, run, sh } from "./lib/run.ts";
import { type Sample, sample } from "./lib/stats.ts";
import { type WakeHere, wakeHereSettings, withWakeHere } from "./lib/wake_here.ts";
import { Rng } from "../tests/helpers.ts";

export type TargetName = Target["name"];

export interface IoRow {
  workload: string;
  unit: string;
  /** What one run does, for the table. */
  detail: string;
  results: Partial<Record<TargetName, Sample>>;
  /** revfs median / bindfs median (higher is better for every unit here); NaN without bindfs. */
  ratioToBindfs: number;
  ratioToLocal: number;
  revfsMemory?: MountMemory;
  /** CPU time of the filesystem's process over one run (user + system, all threads), for the FUSE peers. */
  cpuMs?: Partial<Record<TargetName, Sample>>;
}

export interface IoConfig {
  reps: number;
  seqBytes: number;
  randReads: number;
  smallFiles: number;
  treeFiles: number;
  /** Files of the git working tree that find and git status walk. */
  walkFiles: number;
  sqliteTx: number;
}

export const IO_FULL: IoConfig = {
  reps: 5,
  seqBytes: 1024 * MiB,
  randReads: 10_000,
  smallFiles: 10_000,
  treeFiles: 3000,
  walkFiles: 6800,
  sqliteTx: 1000,
};
export const IO_QUICK: IoConfig = {
  reps: 3,
  seqBytes: 128 * MiB,
  randReads: 2000,
  smallFiles: 10_000,
  treeFiles: 400,
  walkFiles: 6800,
  sqliteTx: 100,
};

const FILEOPS = new URL("./lib/fileops.ts", import.meta.url).pathname;

async function fileops(args: string[]): Promise<{ ops: number; ms: number }> {
  const r = await run(Deno.execPath(), ["run", "-A", FILEOPS, ...args]);
  return JSON.parse(r.stdout);
}

/** Half incompressible, half source-like text: neither all-zero nor all-random. */
export async function writeSeqSource(path: string, bytes: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const pool = new SourceText(rng).bytes(4 * MiB);
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MiB);
  for (let off = 0; off < bytes; off += MiB) {
    for (let o = 0; o < MiB / 2; o += 65536) crypto.getRandomValues(chunk.subarray(o, o + 65536));
    const at = rng.int(pool.length - MiB / 2);
    chunk.set(pool.subarray(at, at + MiB / 2), MiB / 2);
    await f.write(chunk);
  }
  f.close();
}

async function writeTree(root: string, files: number, seed: number): Promise<number> {
  const rng = new Rng(seed);
  const text = new SourceText(rng);
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const dir = `${root}/m${i % 40}/s${i % 7}`;
    await Deno.mkdir(dir, { recursive: true });
    const data = text.bytes(1000 + rng.int(30_000));
    await Deno.writeFile(`${dir}/f${i}.ts`, data);
    bytes += data.length;
  }
  return bytes;
}

/**
 * A git working tree of `files` small source files, committed: packages of modules, about
 * 17 files a directory, as a source checkout is laid out.
 */
async function writeWalkTree(root: string, files: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const text = new SourceText(rng);
  for (let i = 0; i < files; i++) {
    const dir = `${root}/pkg${i % 17}/src/mod${i % 23}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(`${dir}/f${i}.ts`, text.bytes(200 + rng.int(3000)));
  }
  // No automatic gc: past 6,700 loose objects the commit starts one in the background,
  // which packs and removes object directories while the benchmark copies the tree.
  const git = ["-C", root, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0"];
  await run("git", [...git, "init", "-q"]);
  await run("git", [...git, "add", "-A"]);
  await run("git", [...git, "commit", "-qm", "walk tree"]);
}

function sqliteScript(tx: number, seed: number): string {
  const lines = ["PRAGMA journal_mode=DELETE;", "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);"];
  for (let i = 0; i < tx; i++) {
    lines.push(`BEGIN; INSERT INTO t(k, v) VALUES ('key-${seed}-${i}', randomblob(200)); COMMIT;`);
  }
  return lines.join("\n") + "\n";
}

/** Every workload's results under one setting, as rows for the report. */
class Recorder {
  private readonly runs = new Map<string, Map<TargetName, number[]>>();
  private readonly cpu = new Map<string, Map<TargetName, number[]>>();
  private readonly memory = new Map<string, MountMemory>();

  record(workload: string, t: Target, value: number): void {
    push(this.runs, workload, t.name, value);
  }

  /**
   * Runs one step and records the filesystem's CPU time over it; on revfs also the
   * mount's memory (largest over reps).
   */
  async step<T>(workload: string, t: Target, fn: () => Promise<T>): Promise<T> {
    const cpuBefore = t.cpuMs();
    let result: T;
    if (t instanceof RevfsTarget) {
      const { result: r, memory: m } = await t.measured(fn);
      const prev = this.memory.get(workload);
      if (!prev || m.peakRssBytes > prev.peakRssBytes) this.memory.set(workload, m);
      result = r;
    } else {
      result = await fn();
    }
    if (cpuBefore !== undefined) push(this.cpu, workload, t.name, t.cpuMs()! - cpuBefore);
    return result;
  }

  rows(details: Record<string, [string, string]>): IoRow[] {
    return [...this.runs].map(([workload, m]) => {
      const results: Partial<Record<TargetName, Sample>> = {};
      for (const [name, values] of m) results[name] = sample(values);
      return {
        workload,
        unit: details[workload][0],
        detail: details[workload][1],
        results,
        ratioToBindfs: results.bindfs ? results.revfs!.median / results.bindfs.median : NaN,
        ratioToLocal: results.local ? results.revfs!.median / results.local.median : NaN,
        revfsMemory: this.memory.get(workload),
        cpuMs: Object.fromEntries([...this.cpu.get(workload) ?? []].map(([name, values]) => [name, sample(values)])),
      };
    });
  }
}

function push(m: Map<string, Map<TargetName, number[]>>, workload: string, name: TargetName, value: number): void {
  if (!m.has(workload)) m.set(workload, new Map());
  const byTarget = m.get(workload)!;
  byTarget.set(name, [...byTarget.get(name) ?? [], value]);
}

/** The workloads' own inputs, written once and shared by every target and repetition. */
interface Sources {
  seq: string[];
  tree: string;
  treeBytes: number;
  walk: string;
}

export interface FileIoResult {
  /** Every workload, with the kernel as found. */
  rows: IoRow[];
  /**
   * The small-request workloads again, bindfs and revfs only, with the FUSE module's
   * wake_here parameter set the other way (bench/lib/wake_here.ts); absent where this
   * kernel has no such parameter or the benchmark may not set it.
   */
  otherWakeHere?: { setting: WakeHere; asFound: WakeHere; rows: IoRow[] };
}

export async function fileIo(
  work: string,
  cfg: IoConfig,
  withBindfs: boolean,
  log: (s: string) => void,
): Promise<FileIoResult> {
  const targets: Target[] = [localTarget(`${work}/local`)];
  if (withBindfs) targets.push(await bindfsTarget(`${work}/bindfs-backing`, `${work}/bindfs`));
  targets.push(await RevfsTarget.start(`${work}/revfs-store`, `${work}/revfs`));
  const src: Sources = { seq: [], tree: `${work}/tree-source`, treeBytes: 0, walk: `${work}/walk-source` };
  for (let r = 0; r < cfg.reps; r++) {
    const p = `${work}/seq-source-${r}.bin`;
    await writeSeqSource(p, cfg.seqBytes, 100 + r);
    src.seq.push(p);
  }
  src.treeBytes = await writeTree(src.tree, cfg.treeFiles, 7);
  await writeWalkTree(src.walk, cfg.walkFiles, 11);

  const asFound = new Recorder();
  for (let r = 0; r < cfg.reps; r++) {
    // Rotate the order so no target always runs first (or last) in a repetition.
    for (const t of targets.map((_, i) => targets[(i + r) % targets.length])) {
      log(`  file I/O rep ${r + 1}/${cfg.reps}: ${t.name}`);
      await bigFile(t, r, cfg, src, asFound);
      await smallRequests(t, r, cfg, src, work, asFound);
    }
  }
  const result: FileIoResult = { rows: asFound.rows(details(cfg, src)) };

  const settings = withBindfs ? await wakeHereSettings() : undefined;
  if (settings) {
    const { asFound, other } = settings;
    const fuseTargets = targets.filter((t) => t.name !== "local");
    const rec = new Recorder();
    await withWakeHere(other, async () => {
      for (let r = 0; r < cfg.reps; r++) {
        for (const t of fuseTargets.map((_, i) => fuseTargets[(i + r) % fuseTargets.length])) {
          log(`  file I/O with fuse.wake_here=${other}, rep ${r + 1}/${cfg.reps}: ${t.name}`);
          await smallRequests(t, r, cfg, src, work, rec);
        }
      }
    });
    result.otherWakeHere = { setting: other, asFound, rows: rec.rows(details(cfg, src)) };
  }

  for (const t of targets) await t.stop();
  for (const p of src.seq) await Deno.remove(p);
  await Deno.remove(src.tree, { recursive: true });
  await Deno.remove(src.walk, { recursive: true });
  return result;
}

/** Remount (a new mount has no user-space cache) and drop the kernel's caches. */
async function cold(t: Target): Promise<void> {
  await t.remount();
  await dropCaches();
}

const mb = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/** One large file: written, read cold and warm, read at random. */
async function bigFile(t: Target, r: number, cfg: IoConfig, src: Sources, rec: Recorder): Promise<void> {
  const big = `${t.dir}/seq-${r}.bin`;
  await sh(`cat ${src.seq[r]} > /dev/null`); // source in the page cache: time the target, not the source
  const w = await rec.step(
    "seq write + fsync",
    t,
    () => run("dd", [`if=${src.seq[r]}`, `of=${big}`, "bs=1M", "conv=fsync"]),
  );
  rec.record("seq write + fsync", t, mb(cfg.seqBytes, w.ms));

  await cold(t);
  const rc = await rec.step("seq read cold", t, () => run("dd", [`if=${big}`, "of=/dev/null", "bs=1M"]));
  rec.record("seq read cold", t, mb(cfg.seqBytes, rc.ms));
  const rw = await rec.step("seq read warm", t, () => run("dd", [`if=${big}`, "of=/dev/null", "bs=1M"]));
  rec.record("seq read warm", t, mb(cfg.seqBytes, rw.ms));

  await cold(t);
  const rr = await rec.step("random 4K read", t, () => fileops(["randread", big, String(cfg.randReads), String(r)]));
  rec.record("random 4K read", t, rr.ops / (rr.ms / 1000));
  await Deno.remove(big);
}

/** Many small requests: small files created and stat'ed, a tree copied in and out, a checkout walked, SQLite. */
async function smallRequests(
  t: Target,
  r: number,
  cfg: IoConfig,
  src: Sources,
  work: string,
  rec: Recorder,
): Promise<void> {
  const small = `${t.dir}/small-${r}`;
  const cr = await rec.step("create 10k", t, () => fileops(["create", small, String(cfg.smallFiles), String(r)]));
  rec.record("create 10k", t, cr.ops / (cr.ms / 1000));
  await cold(t);
  const st = await rec.step("stat 10k", t, () => fileops(["stat", small, String(cfg.smallFiles)]));
  rec.record("stat 10k", t, st.ops / (st.ms / 1000));
  await Deno.remove(small, { recursive: true });

  const copy = `${t.dir}/tree-${r}`;
  const ci = await rec.step("cp -r in", t, () => run("cp", ["-r", src.tree, copy]));
  rec.record("cp -r in", t, mb(src.treeBytes, ci.ms));
  await cold(t);
  const out = `${work}/tree-out`;
  const co = await rec.step("cp -r out", t, () => run("cp", ["-r", copy, out]));
  rec.record("cp -r out", t, mb(src.treeBytes, co.ms));
  await Deno.remove(out, { recursive: true });
  await Deno.remove(copy, { recursive: true });

  // A checkout to walk: copied in, and its index refreshed once (the copy has new
  // inode numbers), so the timed git status compares stat data, as it does every day.
  const walk = `${t.dir}/walk-${r}`;
  await run("cp", ["-a", src.walk, walk]);
  await run("git", ["-C", walk, "status", "--short"]);
  await cold(t);
  const fw = await rec.step("find", t, () => run("find", [walk]));
  rec.record("find", t, cfg.walkFiles / (fw.ms / 1000));
  await cold(t);
  const gs = await rec.step("git status", t, () => run("git", ["-C", walk, "status", "--short"]));
  if (gs.stdout.trim() !== "") throw new Error(`git status in ${t.name} found changes: ${gs.stdout}`);
  rec.record("git status", t, cfg.walkFiles / (gs.ms / 1000));
  await Deno.remove(walk, { recursive: true });

  const db = `${t.dir}/db-${r}.sqlite`;
  const sq = await rec.step("sqlite inserts", t, () => run("sqlite3", [db], { stdin: sqliteScript(cfg.sqliteTx, r) }));
  rec.record("sqlite inserts", t, cfg.sqliteTx / (sq.ms / 1000));
  await Deno.remove(db);
}

/** Each workload's unit and what one run of it does. */
function details(cfg: IoConfig, src: Sources): Record<string, [string, string]> {
  return {
    "seq write + fsync": ["MB/s", `dd bs=1M conv=fsync, ${cfg.seqBytes / MiB} MiB`],
    "seq read cold": ["MB/s", `dd bs=1M after remount + drop_caches`],
    "seq read warm": ["MB/s", `dd bs=1M again`],
    "random 4K read": ["ops/s", `${cfg.randReads} preads, cold`],
    "create 10k": ["files/s", `create+write+close, ${cfg.smallFiles} files of 1-4 KiB in 100 dirs`],
    "stat 10k": ["ops/s", `stat of ${cfg.smallFiles} files, cold`],
    "cp -r in": ["MB/s", `${cfg.treeFiles} files, ${(src.treeBytes / MiB).toFixed(0)} MiB`],
    "cp -r out": ["MB/s", `same tree, cold`],
    "find": ["files/s", `find over a git checkout of ${cfg.walkFiles} files, after remount + drop_caches`],
    "git status": ["files/s", `git status in the same checkout, after remount + drop_caches`],
    "sqlite inserts": ["tx/s", `sqlite3, ${cfg.sqliteTx} single-insert transactions`],
  };
}
