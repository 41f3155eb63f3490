/**
 * What the command line loads only when it runs: each command's module, the store (LMDB,
 * zstd) and the mount. Deno loads the whole module graph behind an import() with a
 * literal specifier as soon as the importing module loads (measured: 9 ms for the
 * store's, a quarter of a `revfs snapshot` that only talks to a mount), so these are
 * imported by URL; `typeof import()` keeps their types checked. `revfs snapshot` loads
 * 10 modules, not the 28 that every command's module would bring (2.9 ms of a 37 ms
 * run; docs/BENCHMARKS.md).
 */
import type { Command } from "./command.ts";

function load<T>(path: string): Promise<T> {
  return import(new URL(path, import.meta.url).href) as Promise<T>;
}

/** The library API (mod.ts). */
export const storeApi = () => load<typeof import("../mod.ts")>("../mod.ts");

/** Mounting a store (fs/mount.ts). */
export const mountCode = () => load<typeof import("../fs/mount.ts")>("../fs/mount.ts");

/** Each command's module by the command's name, in the order `revfs help` lists them. */
export const COMMANDS = {
  mount: () => load<typeof import("./commands/mount.ts")>("./commands/mount.ts"),
  unmount: () => load<typeof import("./commands/unmount.ts")>("./commands/unmount.ts"),
  init: () => load<typeof import("./commands/init.ts")>("./commands/init.ts"),
  import: () => load<typeof import("./commands/import.ts")>("./commands/import.ts"),
  export: () => load<typeof import("./commands/export.ts")>("./commands/export.ts"),
  snapshot: () => load<typeof import("./commands/snapshot.ts")>("./commands/snapshot.ts"),
  log: () => load<typeof import("./commands/log.ts")>("./commands/log.ts"),
  ls: () => load<typeof import("./commands/ls.ts")>("./commands/ls.ts"),
  cat: () => load<typeof import("./commands/cat.ts")>("./commands/cat.ts"),
  diff: () => load<typeof import("./commands/diff.ts")>("./commands/diff.ts"),
  restore: () => load<typeof import("./commands/restore.ts")>("./commands/restore.ts"),
  tag: () => load<typeof import("./commands/tag.ts")>("./commands/tag.ts"),
  drop: () => load<typeof import("./commands/drop.ts")>("./commands/drop.ts"),
  gc: () => load<typeof import("./commands/gc.ts")>("./commands/gc.ts"),
  stats: () => load<typeof import("./commands/stats.ts")>("./commands/stats.ts"),
  optimize: () => load<typeof import("./commands/optimize.ts")>("./commands/optimize.ts"),
  verify: () => load<typeof import("./commands/verify.ts")>("./commands/verify.ts"),
} satisfies Record<string, () => Promise<{ command: Command }>>;

type CommandName = keyof typeof COMMANDS;

/** The command named `name`, loaded; undefined for no such command. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  if (!Object.hasOwn(COMMANDS, name)) return undefined;
  return (await COMMANDS[name as CommandName]()).command;
}
