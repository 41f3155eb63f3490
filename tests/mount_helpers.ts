/**
 * withMount: runs a test against a real revfs mount served by a separate `cli.ts
 * mount` process (a mount served by the test's own thread would deadlock on its own
 * synchronous file calls), and always unmounts, also when the test fails.
 */
import { tempDir } from "./helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

export function isMounted(path: string): boolean {
  const real = (() => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return path;
    }
  })();
  return Deno.readTextFileSync("/proc/mounts").split("\n").some((l) => l.split(" ")[1] === real);
}

export interface Mounted {
  store: string;
  mnt: string;
  process: Deno.ChildProcess;
}

export async function withMount<T>(
  store: string,
  mnt: string,
  fn: (m: Mounted) => Promise<T>,
  mountArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<T> {
  await Deno.mkdir(mnt, { recursive: true });
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "mount", store, mnt, ...mountArgs],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = process.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const drain = (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) break;
      log += value;
    }
  })();
  try {
    const deadline = Date.now() + 15_000;
    while (!isMounted(mnt)) {
      if (Date.now() > deadline) throw new Error(`mount did not come up: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return await fn({ store, mnt, process });
  } finally {
    try {
      process.kill("SIGTERM");
    } catch {
      // already gone
    }
    const status = await process.status;
    await drain;
    if (isMounted(mnt)) {
      await new Deno.Command("fusermount3", { args: ["-u", "-z", mnt] }).output();
    }
    if (!status.success && status.signal !== "SIGTERM" && !log.includes("mounted on")) {
      console.error(`mount process log:\n${log}`);
    }
  }
}

export async function sh(cmd: string, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("bash", { args: ["-c", cmd], cwd, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, stdout: d.decode(r.stdout), stderr: d.decode(r.stderr) };
}

/** A temporary directory for a mount test, with where its store and mountpoint go. */
export async function mountTestDir(prefix: string): Promise<{ dir: string; store: string; mnt: string }> {
  const dir = await tempDir(prefix);
  return { dir, store: `${dir}/store`, mnt: `${dir}/mnt` };
}
