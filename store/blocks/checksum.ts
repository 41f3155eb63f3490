/**
 * Record checksums: XXH3-64 for raw block records, XXH64 for the content checksum a
 * zstd frame carries (zstd.ts). The system libxxhash (Debian's libxxhash0) through
 * Deno FFI when present, else hash-wasm's WebAssembly build; both give the same
 * values, so either reads what the other wrote. REVFS_XXHASH=wasm forces the portable
 * one (tests).
 *
 * These check that a record reads back as it was written, at memory speed. A block's
 * name stays its SHA-256 (hash.ts), which `verify`, `export` and `mount --verify-reads`
 * re-check.
 */
import type { IHasher } from "hash-wasm";
import { optionalLibrary } from "../../sys/native.ts";

export interface Checksums {
  readonly name: "libxxhash" | "hash-wasm";
  xxh3(data: Uint8Array): bigint;
  xxh64(data: Uint8Array): bigint;
}

const nativeSymbols = {
  XXH3_64bits: { parameters: ["buffer", "usize"], result: "u64" },
  XXH64: { parameters: ["buffer", "usize", "u64"], result: "u64" },
} as const;

/** As called here: sizes as plain numbers; a u64 result comes back as a number when it fits. */
interface NativeLib {
  XXH3_64bits(data: Uint8Array, n: number): number | bigint;
  XXH64(data: Uint8Array, n: number, seed: number): number | bigint;
}

class NativeChecksums implements Checksums {
  readonly name = "libxxhash";
  constructor(private readonly lib: NativeLib) {}
  xxh3(data: Uint8Array): bigint {
    return BigInt(this.lib.XXH3_64bits(data, data.length));
  }
  xxh64(data: Uint8Array): bigint {
    return BigInt(this.lib.XXH64(data, data.length, 0));
  }
}

class WasmChecksums implements Checksums {
  readonly name = "hash-wasm";
  constructor(private readonly h3: IHasher, private readonly h64: IHasher) {}
  xxh3(data: Uint8Array): bigint {
    return digest(this.h3, data);
  }
  xxh64(data: Uint8Array): bigint {
    return digest(this.h64, data);
  }
}

/** hash-wasm's binary digest is the canonical (big-endian) form of the value. */
function digest(h: IHasher, data: Uint8Array): bigint {
  const d = h.init().update(data).digest("binary");
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, false);
}

function loadNative(): Checksums | undefined {
  const lib = optionalLibrary("libxxhash.so.0", nativeSymbols, "REVFS_XXHASH");
  return lib && new NativeChecksums(lib as unknown as NativeLib);
}

/** Imported only when used (the WASM module takes milliseconds to load). */
async function loadWasm(): Promise<Checksums> {
  const { createXXHash3, createXXHash64 } = await import("hash-wasm");
  return new WasmChecksums(await createXXHash3(), await createXXHash64());
}

let ready: Promise<Checksums> | undefined;
let current: Checksums | undefined;

/** Picks the implementation once per process. */
export function initChecksums(): Promise<Checksums> {
  ready ??= (async () => current = loadNative() ?? await loadWasm())();
  return ready;
}

/** Both implementations, for tests that compare them (native is undefined without libxxhash). */
export async function bothChecksums(): Promise<{ native?: Checksums; wasm: Checksums }> {
  return { native: loadNative(), wasm: await loadWasm() };
}

function checksums(): Checksums {
  if (!current) throw new Error("initChecksums() must be awaited before checksums are used");
  return current;
}

export function xxh3(data: Uint8Array): bigint {
  return checksums().xxh3(data);
}

export function xxh64(data: Uint8Array): bigint {
  return checksums().xxh64(data);
}
