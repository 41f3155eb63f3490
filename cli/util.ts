/** What the commands share: argument counts, output, opening a store, finding a mount's store. */
import { storeApi } from "./lazy.ts";
import { type Args } from "./args.ts";
import { runningMounts } from "../fs/control_client.ts";
import type { NodeInfo, OpenOptions, RevNumber, VersionedStore } from "../mod.ts";
import { RevfsError } from "../store/types.ts";

/** Wrong use of a command: exit code 2 and a pointer to `revfs help`. */
export class UsageError extends Error {}

export function need(args: Args, n: number, what: string): void {
  if (args.positional.length < n) throw new UsageError(`missing ${what}`);
}

export function atMost(args: Args, n: number): void {
  if (args.positional.length > n) throw new UsageError(`unexpected argument ${args.positional[n]}`);
}

const enc = new TextEncoder();
export function out(line: string): void {
  Deno.stdout.writeSync(enc.encode(line + "\n"));
}

/**
 * Runs `fn` on the store at `path` (a store directory, or the mountpoint of a running
 * mount of one), committed and closed afterwards (also when it fails).
 */
export async function withStore<T>(
  path: string,
  opts: OpenOptions,
  fn: (s: VersionedStore) => T | Promise<T>,
): Promise<T> {
  const { openStore } = await storeApi();
  const store = await openStore(findStore(path), opts);
  try {
    const result = await fn(store);
    if (opts.write) await store.flush();
    return result;
  } finally {
    await store.close();
  }
}

/** A revision number or tag; `head` is not a revision here. */
export function revNumber(store: VersionedStore, spec: string): RevNumber {
  const r = store.resolve(spec);
  if (r === "head") throw new RevfsError("INVALID", `${spec} is not a revision here; name a number or a tag`);
  return r;
}

/** The type letter `ls -l` shows. */
const TYPE_CHAR: Record<NodeInfo["type"], string> = {
  file: "-",
  dir: "d",
  symlink: "l",
  fifo: "p",
  socket: "s",
  chardev: "c",
  blockdev: "b",
};

export function modeString(info: NodeInfo): string {
  const t = TYPE_CHAR[info.type];
  const bits = "rwxrwxrwx";
  let s = t;
  for (let i = 0; i < 9; i++) s += info.mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

/** A device number's major and minor parts, as glibc's major(3) and minor(3) split dev_t. */
export function major(dev: number): number {
  return ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
}

export function minor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & ~0xff);
}

export function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace("T", " ").slice(0, 19);
}

/**
 * The store a command means: STORE as given (a store directory or a revfs
 * mountpoint), else the mount containing the current directory, else the only
 * running mount.
 */
export function findStore(given: string | undefined): string {
  const mounts = runningMounts();
  if (given !== undefined) {
    let real = given;
    try {
      real = Deno.realPathSync(given);
    } catch {
      return given;
    }
    return mounts.find((m) => m.mountpoint === real)?.store ?? given;
  }
  const cwd = Deno.cwd();
  const inside = mounts.filter((m) => cwd === m.mountpoint || cwd.startsWith(m.mountpoint + "/"));
  if (inside.length > 0) return inside.sort((x, y) => y.mountpoint.length - x.mountpoint.length)[0].store;
  if (mounts.length === 1) return mounts[0].store;
  if (mounts.length === 0) throw new RevfsError("INVALID", "no STORE given and no revfs mount is running");
  throw new RevfsError(
    "INVALID",
    `no STORE given and ${mounts.length} revfs mounts are running; name one: ${
      mounts.map((m) => m.mountpoint).join(", ")
    }`,
  );
}
