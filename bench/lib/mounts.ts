/**
 * The filesystems the file I/O benchmark compares: a local directory, bindfs (a C
 * libfuse filesystem) over a local directory, and a revfs mount served by its own
 * `cli.ts mount` process. Every mount made here is registered and `unmountAll` takes
 * them down, also when a benchmark throws.
 */
import { askMount } from "../../fs/control_client.ts";
import { run } from "./run.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

export interface Target {
  name: "local" | "bindfs" | "revfs";
  /** Where the workload reads and writes. */
  dir: string;
  /** Starts a fresh mount (no user-space cache); a no-op for the local directory. */
  remount(): Promise<void>;
  stop(): Promise<void>;
  /** CPU time the filesystem's process has used so far, user and system, all threads; none for a local directory. */
  cpuMs(): number | undefined;
}

/** A process's CPU time so far, from /proc/PID/stat (utime + stime, in clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The process running `program` with exactly `args` (bindfs forks into the background). */
function pidOf(program: string, args: string[]): number {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let argv: string[];
    try {
      argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0").slice(0, -1);
    } catch {
      continue; // gone meanwhile
    }
    // argv[0] is the program as it was started: a name or a path.
    if (argv[0]?.split("/").pop() === program && argv.slice(1).join("\0") === args.join("\0")) return Number(e.name);
  }
  throw new Error(`no process runs ${program} ${args.join(" ")}`);
}

const live = new Set<Target>();

export async function unmountAll(): Promise<void> {
  for (const t of [...live]) await t.stop().catch((e) => console.error(`unmount ${t.dir}: ${e}`));
}

function isMounted(path: string): boolean {
  return Deno.readTextFileSync("/proc/mounts").split("\n").some((l) => l.split(" ")[1] === path);
}

async function waitMounted(path: string, what: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!isMounted(path)) {
    if (Date.now() > deadline) throw new Error(`${what} did not mount on ${path}: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function fusermountU(path: string): Promise<void> {
  for (let i = 0; i < 50 && isMounted(path); i++) {
    await run("fusermount3", ["-u", path], { allowFail: true });
    if (!isMounted(path)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (isMounted(path)) await run("fusermount3", ["-u", "-z", path], { allowFail: true });
}

export function localTarget(dir: string): Target {
  Deno.mkdirSync(dir, { recursive: true });
  return {
    name: "local",
    dir,
    remount: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    cpuMs: () => undefined,
  };
}

export async function bindfsTarget(backing: string, dir: string): Promise<Target> {
  Deno.mkdirSync(backing, { recursive: true });
  Deno.mkdirSync(dir, { recursive: true });
  let pid = 0;
  const t: Target = {
    name: "bindfs",
    dir,
    async remount() {
      await fusermountU(dir);
      // bindfs daemonizes; its defaults, with no attribute or permission changes.
      await run("bindfs", [backing, dir]);
      await waitMounted(dir, "bindfs", () => "");
      pid = pidOf("bindfs", [backing, dir]);
    },
    cpuMs: () => processCpuMs(pid),
    async stop() {
      live.delete(t);
      await fusermountU(dir);
    },
  };
  live.add(t);
  await t.remount();
  return t;
}

/** Peak and split of a revfs mount's memory over one workload. */
export interface MountMemory {
  /** VmHWM: peak resident set of the mount process during the workload. */
  peakRssBytes: number;
  /** Largest sampled values (every 100-500 ms) of the page cache and anonymous memory. */
  maxCachedBytes: number;
  maxDirtyBytes: number;
  maxRssAnonBytes: number;
  budgetBytes: number;
}

export class RevfsTarget implements Target {
  readonly name = "revfs";
  private process?: Deno.ChildProcess;
  private log = "";

  constructor(readonly store: string, readonly dir: string, readonly mountArgs: string[] = []) {}

  static async start(store: string, dir: string, mountArgs: string[] = []): Promise<RevfsTarget> {
    const t = new RevfsTarget(store, dir, mountArgs);
    live.add(t);
    await t.remount();
    return t;
  }

  get pid(): number {
    if (!this.process) throw new Error("revfs is not mounted");
    return this.process.pid;
  }

  cpuMs(): number {
    return processCpuMs(this.pid);
  }

  async remount(): Promise<void> {
    await this.unmount();
    Deno.mkdirSync(this.dir, { recursive: true });
    this.log = "";
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "mount", this.store, this.dir, ...this.mountArgs],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = this.process.stderr.pipeThrough(new TextDecoderStream()).getReader();
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.log += value;
      }
    })().catch(() => {});
    await waitMounted(this.dir, "revfs", () => this.log);
  }

  private async unmount(): Promise<void> {
    const p = this.process;
    this.process = undefined;
    if (!p) return;
    try {
      p.kill("SIGTERM");
    } catch {
      // already gone
    }
    await p.status;
    if (isMounted(this.dir)) await fusermountU(this.dir);
  }

  async stop(): Promise<void> {
    live.delete(this);
    await this.unmount();
  }

  /** Runs `work` and reports the mount's memory over it. */
  async measured<T>(work: () => Promise<T>, sampleMs = 100): Promise<{ result: T; memory: MountMemory }> {
    const pid = this.pid;
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5"); // resets VmHWM
    const memory: MountMemory = {
      peakRssBytes: 0,
      maxCachedBytes: 0,
      maxDirtyBytes: 0,
      maxRssAnonBytes: 0,
      budgetBytes: 0,
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const reply = await askMount(this.store, { op: "status" }).catch(() => undefined);
        if (reply && reply.ok && "status" in reply) {
          const s = reply.status;
          memory.maxCachedBytes = Math.max(memory.maxCachedBytes, s.cache.cachedBytes);
          memory.maxDirtyBytes = Math.max(memory.maxDirtyBytes, s.cache.dirtyBytes);
          memory.maxRssAnonBytes = Math.max(memory.maxRssAnonBytes, s.memory.rssAnonBytes);
          memory.budgetBytes = s.cache.budgetBytes;
        }
        await new Promise((r) => setTimeout(r, sampleMs));
      }
    })();
    try {
      const result = await work();
      return { result, memory };
    } finally {
      sampling = false;
      await sampler;
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      memory.peakRssBytes = Number(status.match(/^VmHWM:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
    }
  }

  /** Takes a snapshot the way a user does, with the CLI: its wall time and revision. */
  async snapshot(message: string): Promise<{ ms: number; rev: number }> {
    const r = await run(Deno.execPath(), ["run", "-A", CLI, "snapshot", this.store, "-m", message]);
    return { ms: r.ms, rev: Number(r.stdout.trim()) };
  }
}

export { CLI };
