/**
 * Versioning workloads: the same history snapshotted by revfs (through its mount), git,
 * restic and borg (default lz4, and zstd,3), tool by tool after each state, in a
 * rotating order. Reports snapshot times, repository size after every snapshot (the
 * growth chart), logical/stored, and reading one file and listing the tree of the
 * oldest state.
 */
import { applyToDir, BinaryHistory, type EditOp, type SaveMode, SourceHistory } from "./lib/workloads.ts";
import { GitTool, RevfsTool, type VersionTool, versionTools } from "./lib/peers.ts";
import { CLI, type MountMemory } from "./lib/mounts.ts";
import { dropCaches, MiB, run, settleDisk } from "./lib/run.ts";
import { median, percentile, sum } from "./lib/stats.ts";

export interface ToolHistory {
  tool: string;
  /** The first snapshot (the whole tree) alone. */
  initialMs: number;
  /** Every later snapshot: total, median, 95th percentile. */
  totalMs: number;
  p50Ms: number;
  p95Ms: number;
  sizeBytes: number;
  /** git and revfs: after their `gc`. */
  sizeAfterGcBytes?: number;
  /** What ran before `sizeAfterGcBytes` was measured; absent: the tool's gc. */
  packedWith?: string;
  logicalPerStored: number;
  /** The oldest state's file read, and its tree listed, with the kernel's caches dropped first. */
  readFirstMs: number;
  listFirstMs: number;
  /** git and revfs: readFirstMs after their gc (revfs: in a new mount, its first read). */
  readFirstAfterGcMs?: number;
  /** Repository bytes after each snapshot, the first included. */
  growth: number[];
  revfsMemory?: MountMemory;
  /** revfs only: the mount's own snapshot time (no process start), median of the later ones. */
  inMountP50Ms?: number;
  /** revfs only: the mount's work after each snapshot's reply (its deltas), median of the later ones. */
  afterReplyP50Ms?: number;
  /** revfs only: bytes of all records (stats storedBytes); the repository size is LMDB's file. */
  recordBytes?: number;
  /** revfs only, after optimize + gc: LMDB's data file, and the keys and values it holds (storedBytes + tableBytes). */
  afterGc?: { dataFileBytes: number; recordBytes: number };
}

export interface HistoryResult {
  workload: string;
  detail: string;
  snapshots: number;
  logicalBytes: number;
  tools: ToolHistory[];
}

export interface HistoryConfig {
  commits: number;
  binaryBytes: number;
  binaryVersions: number;
  /** Real histories (bench/real_histories.ts): this repository's commits, npm releases. */
  repoCommits: number;
  npmVersions: number;
}
export const HISTORY_FULL: HistoryConfig = {
  commits: 500,
  binaryBytes: 64 * MiB,
  binaryVersions: 50,
  repoCommits: 1000,
  npmVersions: 50,
};
export const HISTORY_QUICK: HistoryConfig = {
  commits: 30,
  binaryBytes: 16 * MiB,
  binaryVersions: 10,
  repoCommits: 30,
  npmVersions: 10,
};

/** Makes state `i` of a history in a tree (the revfs mount, the peers' directory). */
export type ApplyState = (tree: string) => void | Promise<void>;

/** A history as edit operations, the same for every tree. */
export function editStates(next: (i: number) => EditOp[]): (i: number) => Promise<ApplyState> {
  return (i) => {
    const ops = next(i);
    return Promise.resolve((tree: string) => applyToDir(tree, ops));
  };
}

/**
 * Replays `states` states of a history into every tool's tree, each tool snapshotting
 * after each state in a rotating order; `treeBytes` is the logical size of the state
 * just made (what the tree holds).
 */
export async function replay(
  name: string,
  detail: string,
  tools: VersionTool[],
  states: number,
  nextState: (i: number) => Promise<ApplyState>,
  treeBytes: (tree: string) => number,
  firstPath: () => string,
  log: (s: string) => void,
): Promise<HistoryResult> {
  const times = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const growth = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const trees = [...new Set(tools.map((t) => t.tree))];
  let logical = 0;
  for (const t of tools) await t.init();
  const revfs = tools.find((t): t is RevfsTool => t instanceof RevfsTool)!;
  const { memory } = await revfs.mount.measured(async () => {
    for (let i = 0; i < states; i++) {
      const apply = await nextState(i);
      for (const tree of trees) await apply(tree);
      logical += treeBytes(trees[0]);
      const order = tools.map((_, k) => tools[(k + i) % tools.length]);
      for (const t of order) {
        settleDisk(revfs.store); // as in scaling.ts: no one's writeback waited for by another's fsync
        times.get(t.name)!.push(await t.snapshot(`state ${i}`));
        growth.get(t.name)!.push(await t.size());
      }
      if (i % 10 === 0 || i === states - 1) log(`  ${name}: state ${i + 1}/${states}`);
    }
  }, 500);
  const out: ToolHistory[] = [];
  for (const t of tools) {
    const all = times.get(t.name)!;
    const later = all.slice(1);
    const size = await t.size();
    const row: ToolHistory = {
      tool: t.name,
      initialMs: all[0],
      totalMs: sum(later),
      p50Ms: median(later),
      p95Ms: percentile(later, 0.95),
      sizeBytes: size,
      logicalPerStored: logical / size,
      readFirstMs: await coldly(() => t.readFirst(firstPath())),
      listFirstMs: await coldly(() => t.listFirst()),
      growth: growth.get(t.name)!,
    };
    if (t instanceof GitTool) {
      await t.gc();
      row.sizeAfterGcBytes = await t.size();
      row.logicalPerStored = logical / row.sizeAfterGcBytes;
      row.readFirstAfterGcMs = await coldly(() => t.readFirst(firstPath()));
    }
    if (t === revfs) {
      row.revfsMemory = memory;
      row.inMountP50Ms = median(revfs.inMountMs.slice(1));
      if (revfs.afterReplyMs.length > 1) row.afterReplyP50Ms = median(revfs.afterReplyMs.slice(1));
      const stats = await run(Deno.execPath(), ["run", "-A", CLI, "stats", revfs.store, "--json"]);
      row.recordBytes = JSON.parse(stats.stdout).storedBytes;
    }
    out.push(row);
    await t.stop();
    if (t === revfs) {
      // Measured as git's is, after what packs it: `git gc` deltas and recompresses every
      // object; revfs's optimize re-deltas, trains dictionaries and re-encodes denser, and
      // its gc compacts the file.
      await run(Deno.execPath(), ["run", "-A", CLI, "optimize", revfs.store]);
      await run(Deno.execPath(), ["run", "-A", CLI, "gc", revfs.store]);
      row.packedWith = "optimize + gc";
      row.sizeAfterGcBytes = await t.size();
      const after = JSON.parse((await run(Deno.execPath(), ["run", "-A", CLI, "stats", revfs.store, "--json"])).stdout);
      row.afterGc = {
        dataFileBytes: (await Deno.stat(`${revfs.store}/data.mdb`)).size,
        recordBytes: after.storedBytes + after.tableBytes,
      };
      row.logicalPerStored = logical / row.sizeAfterGcBytes;
      await t.init();
      try {
        row.readFirstAfterGcMs = await coldly(() => t.readFirst(firstPath()));
      } finally {
        await t.stop();
      }
    }
  }
  return { workload: name, detail, snapshots: states, logicalBytes: logical, tools: out };
}

/** `read` with the kernel's caches dropped first (page cache, dentries, inodes). */
async function coldly(read: () => Promise<number>): Promise<number> {
  await dropCaches();
  return await read();
}

export async function sourceHistory(
  work: string,
  cfg: HistoryConfig,
  present: Record<string, boolean>,
  log: (s: string) => void,
): Promise<HistoryResult> {
  const h = new SourceHistory(2026);
  return await replay(
    "source tree",
    `300 source-like files in 20 dirs, then ${cfg.commits} commits of 1-4 edited files`,
    versionTools(work, present, { borgZstd: true }),
    cfg.commits + 1,
    editStates((i) => i === 0 ? h.initial() : h.commit()),
    () => h.treeBytes,
    () => h.firstPath,
    log,
  );
}

/** The binary checkpoint history, saved in place or as a new file renamed over the old (same versions). */
export async function binaryHistory(
  work: string,
  cfg: HistoryConfig,
  present: Record<string, boolean>,
  log: (s: string) => void,
  mode: SaveMode = "in place",
): Promise<HistoryResult> {
  const h = new BinaryHistory(64, cfg.binaryBytes, "model.bin", mode);
  return await replay(
    mode === "in place" ? "binary file" : "binary file, saved as a new file",
    `${cfg.binaryBytes / MiB} MiB file, ${cfg.binaryVersions} versions, each rewriting 1% at random 4 KiB offsets, ${
      mode === "in place" ? "in place" : "written whole to a new file renamed over the old"
    }`,
    versionTools(work, present, { borgZstd: true }),
    cfg.binaryVersions,
    editStates((i) => i === 0 ? h.initial() : h.version()),
    () => h.bytes,
    () => h.path,
    log,
  );
}
