/** What a result was measured on: machine, tool versions, revfs commit. */
import { run, sh } from "./run.ts";

export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  /** Filesystem type of the benchmark's work directory (what "local" means). */
  workFs: string;
}

export async function machine(workDir: string): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  return {
    cpu: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memoryBytes: Number(meminfo.match(/^MemTotal:\s+(\d+) kB/m)?.[1] ?? 0) * 1024,
    kernel: Deno.osRelease(),
    workFs: (await run("stat", ["-f", "-c", "%T", workDir])).stdout.trim(),
  };
}

async function firstLine(cmd: string): Promise<string> {
  const r = await sh(`${cmd} 2>&1 | head -1`, { allowFail: true });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : "not installed";
}

export async function toolVersions(): Promise<Record<string, string>> {
  return {
    deno: Deno.version.deno,
    fuse3: await firstLine("fusermount3 --version"),
    bindfs: await firstLine("bindfs --version"),
    git: await firstLine("git --version"),
    restic: await firstLine("restic version"),
    borg: await firstLine("borg --version"),
    sqlite3: await firstLine("sqlite3 --version | cut -d' ' -f1"),
  };
}

export async function revfsCommit(): Promise<string> {
  const root = new URL("../..", import.meta.url).pathname;
  const head = await run("git", ["-C", root, "rev-parse", "--short", "HEAD"], { allowFail: true });
  if (head.code !== 0) return "unknown";
  // What a run renders (its results, the README's and BENCHMARKS' tables) is not the code it measured.
  const rendered = [":!bench/results", ":!README.md", ":!docs/BENCHMARKS.md"];
  const status = ["-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ...rendered];
  const dirty = (await run("git", status)).stdout.trim();
  return head.stdout.trim() + (dirty ? " (with uncommitted changes)" : "");
}
