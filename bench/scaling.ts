/**
 * Scaling: the time of a snapshot after a one-file change, against the number of files
 * in the tree, and after a one-block change, against the size of a (sparse) file. A
 * tool whose snapshot cost follows what changed draws a flat line; one that rescans or
 * rehashes draws a rising one.
 */
import { RevfsTool, type VersionTool, versionTools } from "./lib/peers.ts";
import type { MountMemory } from "./lib/mounts.ts";
import { CLI } from "./lib/mounts.ts";
import { MiB, run, settleDisk } from "./lib/run.ts";
import { median } from "./lib/stats.ts";
import { SourceText } from "./lib/workloads.ts";
import { Rng } from "../tests/helpers.ts";

export interface ScalePoint {
  /** Files in the tree, or bytes of the file. */
  x: number;
  tool: string;
  /** The first snapshot of the whole tree (revfs: `import`). */
  initialMs: number;
  /** Median of the snapshots after each small change. */
  changeMs: number;
  runs: number[];
  /**
   * revfs: the median of the mount's own part of those snapshots (writeout, snapshot,
   * commit), without the command line's process start.
   */
  inMountMs?: number;
  /** revfs: the median of the mount's work after those snapshots' replies (their deltas, committed). */
  afterReplyMs?: number;
}

export interface ScalingResult {
  treeFiles: ScalePoint[];
  fileBytes: ScalePoint[];
  /** git is skipped above this size: it reads a whole file into memory to add it. */
  gitMaxFileBytes: number;
  revfsMemory: MountMemory[];
}

export interface ScalingConfig {
  treeSizes: number[];
  fileSizes: number[];
  changes: number;
}
export const SCALING_FULL: ScalingConfig = {
  treeSizes: [1000, 10_000, 100_000],
  fileSizes: [1 * MiB, 64 * MiB, 1024 * MiB, 8192 * MiB],
  // Five, not three: the first snapshot through a new mount costs 40-55 ms (its code
  // cold) and was a third of the median's samples; by hand the 8 GiB file's later ones
  // took 25-30 ms, the 1 GiB file's 25-38 ms.
  changes: 5,
};
export const SCALING_QUICK: ScalingConfig = {
  treeSizes: [1000, 10_000],
  fileSizes: [1 * MiB, 64 * MiB, 1024 * MiB],
  changes: 3,
};
const GIT_MAX_FILE = 1024 * MiB;

/**
 * Sets up `tree` in every tool, takes the initial snapshot, then `changes` times applies
 * `change` to each tool's tree and times the snapshot that follows.
 */
async function measure(
  x: number,
  ts: VersionTool[],
  populate: (dir: string) => Promise<void>,
  change: (dir: string, round: number) => Promise<void>,
  changes: number,
  memory: MountMemory[],
): Promise<ScalePoint[]> {
  const plain = ts.find((t) => !(t instanceof RevfsTool))?.tree;
  const revfs = ts.find((t): t is RevfsTool => t instanceof RevfsTool)!;
  const points: ScalePoint[] = [];
  // revfs versions an existing tree with `import`, then mounts the store.
  const staging = `${revfs.tree}-staging`;
  await populate(staging);
  settleDisk(staging);
  const imp = await run(Deno.execPath(), ["run", "-A", CLI, "import", revfs.store, staging]);
  await Deno.remove(staging, { recursive: true });
  if (plain) await populate(plain);
  const initial = new Map<string, number>([["revfs", imp.ms]]);
  for (const t of ts) {
    await t.init();
    if (t === revfs) continue;
    settleDisk(revfs.store);
    initial.set(t.name, await t.snapshot("initial"));
  }
  const runs = new Map<string, number[]>(ts.map((t) => [t.name, []]));
  const { memory: m } = await revfs.mount.measured(async () => {
    for (let r = 0; r < changes; r++) {
      await change(revfs.tree, r);
      if (plain) await change(plain, r);
      for (const t of ts) {
        // Each on a quiet disk: what the edits or the tool before left for writeback
        // would otherwise be waited for by the next fsync (a revfs commit's 2 ms -> up to 105).
        settleDisk(revfs.store);
        runs.get(t.name)!.push(await t.snapshot(`change ${r}`));
      }
    }
  }, 250);
  memory.push(m);
  for (const t of ts) {
    points.push({
      x,
      tool: t.name,
      initialMs: initial.get(t.name)!,
      changeMs: median(runs.get(t.name)!),
      runs: runs.get(t.name)!,
      ...(t === revfs && revfs.inMountMs.length > 0 ? { inMountMs: median(revfs.inMountMs) } : {}),
      ...(t === revfs && revfs.afterReplyMs.length > 0 ? { afterReplyMs: median(revfs.afterReplyMs) } : {}),
    });
    await t.stop();
  }
  return points;
}

export async function scaling(
  work: string,
  cfg: ScalingConfig,
  present: Record<string, boolean>,
  log: (s: string) => void,
): Promise<ScalingResult> {
  const result: ScalingResult = { treeFiles: [], fileBytes: [], gitMaxFileBytes: GIT_MAX_FILE, revfsMemory: [] };
  for (const n of cfg.treeSizes) {
    log(`  scaling: tree of ${n} files`);
    const dir = `${work}/tree-${n}`;
    const text = new SourceText(new Rng(n));
    const populate = async (root: string) => {
      const rng = new Rng(n);
      for (let i = 0; i < n; i++) {
        const d = `${root}/d${Math.floor(i / 100)}`;
        if (i % 100 === 0) await Deno.mkdir(d, { recursive: true });
        await Deno.writeFile(`${d}/f${i}.ts`, text.bytes(200 + rng.int(1800)));
      }
    };
    const change = async (root: string, r: number) => {
      const p = `${root}/d0/f${r}.ts`;
      const data = await Deno.readFile(p);
      data[0] ^= 1;
      await Deno.writeFile(p, data);
    };
    result.treeFiles.push(
      ...await measure(n, versionTools(dir, present), populate, change, cfg.changes, result.revfsMemory),
    );
    await Deno.remove(dir, { recursive: true });
  }
  for (const size of cfg.fileSizes) {
    log(`  scaling: one ${size / MiB} MiB sparse file`);
    const dir = `${work}/file-${size}`;
    const populate = async (root: string) => {
      await Deno.mkdir(root, { recursive: true });
      await Deno.writeFile(`${root}/big.bin`, new Uint8Array());
      await Deno.truncate(`${root}/big.bin`, size);
    };
    const change = async (root: string, r: number) => {
      const f = await Deno.open(`${root}/big.bin`, { write: true });
      const rng = new Rng(r);
      await f.seek(Math.floor(((r + 1) / (cfg.changes + 1)) * (size / 4096)) * 4096, Deno.SeekMode.Start);
      await f.write(rng.bytes(4096));
      f.close();
    };
    result.fileBytes.push(
      ...await measure(
        size,
        versionTools(dir, present, { git: size <= GIT_MAX_FILE }),
        populate,
        change,
        cfg.changes,
        result.revfsMemory,
      ),
    );
    await Deno.remove(dir, { recursive: true });
  }
  return result;
}
