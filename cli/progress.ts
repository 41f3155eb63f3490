/** A progress bar on stderr when it is a terminal; silent when piped. */
import type { Progress } from "../mod.ts";

/** `update` is undefined when stderr is not a terminal, so callers skip counting work. */
export function progressBar(label: string, unit: "bytes" | "items"): { update?: Progress; done(): void } {
  if (!Deno.stderr.isTerminal()) return { update: undefined, done: () => {} };
  const enc = new TextEncoder();
  let last = 0;
  const fmt = (n: number) => unit === "bytes" ? humanBytes(n) : String(n);
  const draw = (done: number, total: number) => {
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30;
    const fill = Math.round(frac * width);
    const line = `\r${label} [${"#".repeat(fill)}${".".repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${
      fmt(done)
    } / ${fmt(total)}\x1b[K`;
    Deno.stderr.writeSync(enc.encode(line));
  };
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(done, total);
    },
    done() {
      Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
    },
  };
}

/** Runs `fn` with a progress bar's update, and clears the bar when it ends, also on an error. */
export async function withProgress<T>(
  label: string,
  unit: "bytes" | "items",
  fn: (update?: Progress) => T | Promise<T>,
): Promise<T> {
  const bar = progressBar(label, unit);
  try {
    return await fn(bar.update);
  } finally {
    bar.done();
  }
}

export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}
