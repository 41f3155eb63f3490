/** Running peer programs and timing them. Every failure throws with the program's stderr. */
import { syncFilesystemOf } from "../../sys/libc.ts";

export interface Ran {
  ms: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Return instead of throwing on a non-zero exit. */
  allowFail?: boolean;
}

const dec = new TextDecoder();

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Ran & { code: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const ms = performance.now() - t0;
  const r = { ms, code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  if (out.code !== 0 && !opts.allowFail) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  return r;
}

/** bash -c, for pipelines and redirections. */
export function sh(script: string, opts: RunOptions = {}): Promise<Ran & { code: number }> {
  return run("bash", ["-c", script], opts);
}

export async function has(program: string): Promise<boolean> {
  return (await sh(`command -v ${program}`, { allowFail: true })).code === 0;
}

/** Bytes a directory takes: apparent sizes, the same measure for every tool. */
export async function duBytes(path: string): Promise<number> {
  const r = await run("du", ["-sb", path]);
  return Number(r.stdout.split("\t")[0]);
}

/**
 * Writes back what is dirty on the filesystem holding `path` (syncfs(2)), so that the
 * next timed command's fsyncs do not wait behind another's writes: by hand a revfs
 * snapshot's commit took 1.5-2.6 ms on a quiet disk and 18-105 ms with 200 MiB of
 * another process's writes pending (docs/BENCHMARKS.md). A FUSE mount under `path` is
 * a filesystem of its own and is left as it is.
 */
export function settleDisk(path: string): void {
  if (!syncFilesystemOf(path)) throw new Error(`syncfs of the filesystem holding ${path} failed`);
}

/** Drops the kernel's page, dentry and inode caches (root only on these machines). */
export async function dropCaches(): Promise<void> {
  await sh("sync && echo 3 > /proc/sys/vm/drop_caches");
}

export const MiB = 1 << 20;
