/**
 * The heavy modules a command loads when it runs: the store (LMDB, zstd) and the mount.
 * Deno loads the whole module graph behind an import() with a literal specifier as soon
 * as the importing module loads (measured: 9 ms for the store's, a quarter of a
 * `revfs snapshot` that only talks to a mount), so these are imported by URL; `typeof
 * import()` keeps their types checked.
 */
function load<T>(path: string): Promise<T> {
  return import(new URL(path, import.meta.url).href) as Promise<T>;
}

/** The library API (mod.ts). */
export const storeApi = () => load<typeof import("../mod.ts")>("../mod.ts");

/** Mounting a store (fs/mount.ts). */
export const mountCode = () => load<typeof import("../fs/mount.ts")>("../fs/mount.ts");
