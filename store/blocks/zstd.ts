/**
 * zstd for block records: the system libzstd through Deno FFI when present (faster,
 * and the only one with ZDICT dictionary training), else @bokuweb/zstd-wasm. Both
 * write standard frames with the content size in the header, so either reads the
 * other's records. REVFS_ZSTD=wasm forces the portable one (tests, benchmarks).
 *
 * Every frame written carries zstd's content checksum (XXH64 of the content, low 32
 * bits), which the decoder checks: a damaged record fails to decode instead of
 * returning other bytes (FORMAT.md, "Block records"). The WASM build cannot set that
 * frame parameter, so its frames get the checksum appended as the format specifies.
 *
 * Contexts are made once and reused: creating them per block costs more than
 * compressing a small block. The WASM build is imported only when it is used: loading
 * it cost every process several milliseconds, and a CLI command that only talks to a
 * mount never compresses.
 */
import { initChecksums, xxh64 } from "./checksum.ts";
import { optionalLibrary } from "../../sys/native.ts";

export const ZSTD_LEVEL = 3;

export interface Zstd {
  readonly name: "libzstd" | "zstd-wasm";
  compress(data: Uint8Array, level?: number): Uint8Array;
  /**
   * The frame of `data` (with `dict`, if given) when it is at most `maxBytes`, else
   * undefined. The frame may be a view of a buffer the next compression reuses: the
   * caller copies what it keeps (a block record is written at once). A copy per block
   * was garbage the size of everything a writeout compressed, freed only at V8's next
   * collection: writing 1 GiB, the mount's anonymous memory peaked 8-13 MiB higher.
   *
   * `dict` here is a trained dictionary whose bytes never change (a store's: the same
   * array each time, store/blocks/dicts.ts): libzstd keeps it loaded from one call to
   * the next while the same array and level come, where loading it again built its
   * tables for every block (a 4 KiB block with a 112 KiB dictionary: 456 us loaded each
   * time, 36 us kept loaded; 23 us without a dictionary; by hand).
   */
  compressAtMost(data: Uint8Array, maxBytes: number, dict?: Uint8Array, level?: number): Uint8Array | undefined;
  /**
   * May decode into `into` when it is large enough (the result is then a view of it).
   * `checked: false` skips the frame's content checksum where the implementation can
   * (libzstd): for a delta chain's lower steps, whose errors the top's checksum catches.
   */
  decompress(frame: Uint8Array, into?: Uint8Array, checked?: boolean): Uint8Array;
  /** `dict` is a trained dictionary or any bytes used as raw content (a delta's base). */
  compressWithDict(data: Uint8Array, dict: Uint8Array, level?: number): Uint8Array;
  /** Into `into` when it is given and fits (libzstd), else a new array. */
  decompressWithDict(frame: Uint8Array, dict: Uint8Array, into?: Uint8Array, checked?: boolean): Uint8Array;
  /** ZDICT training; undefined when this implementation has no trainer. */
  train?(samples: Uint8Array[], dictBytes: number): Uint8Array;
}

const nativeSymbols = {
  ZSTD_compressBound: { parameters: ["usize"], result: "usize" },
  ZSTD_isError: { parameters: ["usize"], result: "u32" },
  ZSTD_getErrorName: { parameters: ["usize"], result: "pointer" },
  ZSTD_createCCtx: { parameters: [], result: "pointer" },
  ZSTD_createDCtx: { parameters: [], result: "pointer" },
  ZSTD_CCtx_setParameter: { parameters: ["pointer", "i32", "i32"], result: "usize" },
  ZSTD_CCtx_loadDictionary: { parameters: ["pointer", "buffer", "usize"], result: "usize" },
  ZSTD_compress2: { parameters: ["pointer", "buffer", "usize", "buffer", "usize"], result: "usize" },
  ZSTD_DCtx_setParameter: { parameters: ["pointer", "i32", "i32"], result: "usize" },
  ZSTD_decompressDCtx: { parameters: ["pointer", "buffer", "usize", "buffer", "usize"], result: "usize" },
  ZSTD_decompress_usingDict: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize", "buffer", "usize"],
    result: "usize",
  },
  ZSTD_getFrameContentSize: { parameters: ["buffer", "usize"], result: "u64" },
  ZDICT_trainFromBuffer: { parameters: ["buffer", "usize", "buffer", "buffer", "u32"], result: "usize" },
  ZDICT_isError: { parameters: ["usize"], result: "u32" },
} as const;

type Size = number | bigint;
type Ptr = Deno.PointerValue;
type Buf = Uint8Array | BigUint64Array;

/**
 * The symbols as called here: FFI takes plain numbers for size_t arguments (every
 * size here fits), which Deno's generated types would make BigInts.
 */
interface NativeLib {
  ZSTD_compressBound(n: number): Size;
  ZSTD_isError(code: Size): number;
  ZSTD_getErrorName(code: Size): Ptr;
  ZSTD_createCCtx(): Ptr;
  ZSTD_createDCtx(): Ptr;
  ZSTD_CCtx_setParameter(c: Ptr, param: number, value: number): Size;
  ZSTD_CCtx_loadDictionary(c: Ptr, dict: Buf, n: number): Size;
  ZSTD_compress2(c: Ptr, dst: Buf, cap: number, src: Buf, n: number): Size;
  ZSTD_DCtx_setParameter(d: Ptr, param: number, value: number): Size;
  ZSTD_decompressDCtx(d: Ptr, dst: Buf, cap: number, src: Buf, n: number): Size;
  ZSTD_decompress_usingDict(d: Ptr, dst: Buf, cap: number, src: Buf, n: number, dict: Buf, dictN: number): Size;
  ZSTD_getFrameContentSize(src: Buf, n: number): Size;
  ZDICT_trainFromBuffer(dict: Buf, cap: number, samples: Buf, sizes: Buf, count: number): Size;
  ZDICT_isError(code: Size): number;
}

/** Frames revfs reads hold at most this much (a block is at most 16 MiB). */
const MAX_CONTENT = 16 << 20;

/** zstd.h's ZSTD_cParameter values used here. */
const ZSTD_C_COMPRESSION_LEVEL = 100;
const ZSTD_C_CHECKSUM_FLAG = 201;
/** ZSTD_d_forceIgnoreChecksum (ZSTD_d_experimentalParam3, zstd >= 1.4.7). */
const ZSTD_D_FORCE_IGNORE_CHECKSUM = 1002;

const FRAME_MAGIC = 0xfd2fb528;
/** Frame_Header_Descriptor (the byte after the magic): its Content_Checksum_flag. */
const CHECKSUM_FLAG_BIT = 0x04;

/** Whether `frame` is a zstd frame that carries a content checksum. */
export function hasContentChecksum(frame: Uint8Array): boolean {
  if (frame.length < 5) return false;
  const magic = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true);
  return magic === FRAME_MAGIC && (frame[4] & CHECKSUM_FLAG_BIT) !== 0;
}

/**
 * `frame` (one frame of `content`, without a checksum) with the content checksum added:
 * the flag set and XXH64's low 32 bits, little-endian, after the last block (RFC 8878,
 * 3.1.1).
 */
function withContentChecksum(frame: Uint8Array, content: Uint8Array): Uint8Array {
  if (hasContentChecksum(frame)) return frame;
  const out = new Uint8Array(frame.length + 4);
  out.set(frame);
  out[4] |= CHECKSUM_FLAG_BIT;
  new DataView(out.buffer).setUint32(frame.length, Number(xxh64(content) & 0xffffffffn), true);
  return out;
}

class NativeZstd implements Zstd {
  readonly name = "libzstd";
  /** Compresses without a dictionary; `dictCctx` holds the last dictionary loaded. */
  private readonly cctx: Deno.PointerValue;
  private readonly dictCctx: Deno.PointerValue;
  /** Holds `compressAtMost`'s dictionary, `trained`, loaded at that level. */
  private readonly trainedCctx: Deno.PointerValue;
  private trained?: { bytes: Uint8Array; level: number };
  private readonly dctx: Deno.PointerValue;
  /**
   * Decodes without checking content checksums: XXH64 is half the time of decoding a
   * 64 KiB delta (9 us of 19, measured). The checked context when the library is too old.
   */
  private readonly uncheckedDctx: Deno.PointerValue;
  private out = new Uint8Array(0);

  constructor(private readonly lib: NativeLib) {
    this.cctx = lib.ZSTD_createCCtx();
    this.dictCctx = lib.ZSTD_createCCtx();
    this.trainedCctx = lib.ZSTD_createCCtx();
    this.dctx = lib.ZSTD_createDCtx();
    const unchecked = lib.ZSTD_createDCtx();
    const ok = lib.ZSTD_isError(lib.ZSTD_DCtx_setParameter(unchecked, ZSTD_D_FORCE_IGNORE_CHECKSUM, 1)) === 0;
    this.uncheckedDctx = ok ? unchecked : this.dctx;
    for (const c of [this.cctx, this.dictCctx, this.trainedCctx]) {
      this.check(lib.ZSTD_CCtx_setParameter(c, ZSTD_C_CHECKSUM_FLAG, 1), "set checksum flag");
    }
  }

  private check(code: Size, what: string): number {
    if (this.lib.ZSTD_isError(code) !== 0) {
      const p = this.lib.ZSTD_getErrorName(code);
      const why = p ? Deno.UnsafePointerView.getCString(p) : "unknown error";
      throw new Error(`zstd ${what}: ${why}`);
    }
    return Number(code);
  }

  private scratch(n: number): Uint8Array {
    if (this.out.length < n) this.out = new Uint8Array(Math.max(n, 2 * this.out.length));
    return this.out;
  }

  /** Where a frame's content goes: `into` when it fits, else a new array. */
  private target(frame: Uint8Array, into?: Uint8Array): Uint8Array {
    const n = this.contentSize(frame);
    return into && into.length >= n ? into.subarray(0, n) : new Uint8Array(n);
  }

  private contentSize(frame: Uint8Array): number {
    const n = this.lib.ZSTD_getFrameContentSize(frame, frame.length);
    // Unknown (-1) and error (-2) are the two largest u64 values.
    if (typeof n === "bigint" ? n > BigInt(MAX_CONTENT) : n > MAX_CONTENT) {
      throw new Error("zstd frame has no usable content size");
    }
    return Number(n);
  }

  /**
   * The frame, as a view of the scratch buffer the next compression reuses.
   * ZSTD_compress2 keeps the context's parameters (the checksum flag); the simple calls ignore them.
   */
  private compressWith(cctx: Ptr, data: Uint8Array, level: number): Uint8Array {
    this.check(this.lib.ZSTD_CCtx_setParameter(cctx, ZSTD_C_COMPRESSION_LEVEL, level), "set level");
    const out = this.scratch(Number(this.lib.ZSTD_compressBound(data.length)));
    const n = this.check(this.lib.ZSTD_compress2(cctx, out, out.length, data, data.length), "compress");
    return out.subarray(0, n);
  }

  compress(data: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
    return this.compressWith(this.cctx, data, level).slice();
  }

  compressAtMost(data: Uint8Array, maxBytes: number, dict?: Uint8Array, level = ZSTD_LEVEL): Uint8Array | undefined {
    if (dict && (this.trained?.bytes !== dict || this.trained.level !== level)) {
      this.trained = undefined;
      this.loadDict(this.trainedCctx, dict);
      this.trained = { bytes: dict, level };
    }
    const frame = this.compressWith(dict ? this.trainedCctx : this.cctx, data, level);
    return frame.length <= maxBytes ? frame : undefined;
  }

  decompress(frame: Uint8Array, into?: Uint8Array, checked = true): Uint8Array {
    const out = this.target(frame, into);
    const n = this.check(
      this.lib.ZSTD_decompressDCtx(checked ? this.dctx : this.uncheckedDctx, out, out.length, frame, frame.length),
      "decompress",
    );
    if (n !== out.length) throw new Error("zstd frame is shorter than its header says");
    return out;
  }

  compressWithDict(data: Uint8Array, dict: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
    this.loadDict(this.dictCctx, dict);
    return this.compressWith(this.dictCctx, data, level).slice();
  }

  private loadDict(cctx: Ptr, dict: Uint8Array): void {
    // Loaded by copy (FFI buffers are only valid during the call); a trained dictionary
    // (it starts with the dictionary magic) is loaded as one, other bytes as raw content,
    // as ZSTD_decompress_usingDict reads them.
    this.check(this.lib.ZSTD_CCtx_loadDictionary(cctx, dict, dict.length), "load dictionary");
  }

  decompressWithDict(frame: Uint8Array, dict: Uint8Array, into?: Uint8Array, checked = true): Uint8Array {
    const out = this.target(frame, into);
    const dctx = checked ? this.dctx : this.uncheckedDctx;
    const n = this.check(
      this.lib.ZSTD_decompress_usingDict(dctx, out, out.length, frame, frame.length, dict, dict.length),
      "decompress",
    );
    if (n !== out.length) throw new Error("zstd frame is shorter than its header says");
    return out;
  }

  train(samples: Uint8Array[], dictBytes: number): Uint8Array {
    let total = 0;
    for (const s of samples) total += s.length;
    const joined = new Uint8Array(total);
    const sizes = new BigUint64Array(samples.length);
    let at = 0;
    samples.forEach((s, i) => {
      joined.set(s, at);
      at += s.length;
      sizes[i] = BigInt(s.length);
    });
    const dict = new Uint8Array(dictBytes);
    const n = this.lib.ZDICT_trainFromBuffer(dict, dict.length, joined, sizes, samples.length);
    if (this.lib.ZDICT_isError(n) !== 0) {
      const p = this.lib.ZSTD_getErrorName(n);
      throw new Error(`dictionary training failed: ${p ? Deno.UnsafePointerView.getCString(p) : "unknown error"}`);
    }
    return dict.slice(0, Number(n));
  }
}

type WasmModule = typeof import("zstd-wasm");

class WasmZstd implements Zstd {
  readonly name = "zstd-wasm";
  private readonly cctx: ReturnType<WasmModule["createCCtx"]>;
  private readonly dctx: ReturnType<WasmModule["createDCtx"]>;

  constructor(private readonly w: WasmModule) {
    this.cctx = w.createCCtx();
    this.dctx = w.createDCtx();
  }

  compress(data: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
    return withContentChecksum(this.w.compress(data, level), data);
  }
  decompress(frame: Uint8Array): Uint8Array {
    return this.w.decompress(frame);
  }
  compressWithDict(data: Uint8Array, dict: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
    return withContentChecksum(this.w.compressUsingDict(this.cctx, data, dict, level), data);
  }
  compressAtMost(data: Uint8Array, maxBytes: number, dict?: Uint8Array, level = ZSTD_LEVEL): Uint8Array | undefined {
    const frame = dict ? this.compressWithDict(data, dict, level) : this.compress(data, level);
    return frame.length <= maxBytes ? frame : undefined;
  }
  decompressWithDict(frame: Uint8Array, dict: Uint8Array): Uint8Array {
    return this.w.decompressUsingDict(this.dctx, frame, dict);
  }
}

/**
 * Once per process: zstd-wasm's init() makes a new instance each call, and the contexts
 * made before it then write garbage (seen: a third init, and every frame written with a
 * dictionary after it began with zero bytes where the magic number goes).
 */
let wasmReady: Promise<Zstd> | undefined;

function loadWasm(): Promise<Zstd> {
  wasmReady ??= (async () => {
    const [w] = await Promise.all([import("zstd-wasm"), initChecksums()]);
    await w.init();
    return new WasmZstd(w);
  })();
  return wasmReady;
}

let ready: Promise<Zstd> | undefined;
let current: Zstd | undefined;

function loadNative(): Zstd | undefined {
  const lib = optionalLibrary("libzstd.so.1", nativeSymbols, "REVFS_ZSTD");
  return lib && new NativeZstd(lib as unknown as NativeLib);
}

/** Picks the implementation once per process. */
export function initZstd(): Promise<Zstd> {
  ready ??= (async () => {
    const z = loadNative() ?? await loadWasm();
    current = z;
    return z;
  })();
  return ready;
}

/** Loads both implementations, for benchmarks and tests that compare them. */
export async function bothZstd(): Promise<{ native?: Zstd; wasm: Zstd }> {
  return { native: loadNative(), wasm: await loadWasm() };
}

export function zstd(): Zstd {
  if (!current) throw new Error("initZstd() must be awaited before zstd is used");
  return current;
}

export function compress(data: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
  return zstd().compress(data, level);
}

export function compressAtMost(
  data: Uint8Array,
  maxBytes: number,
  dict?: Uint8Array,
  level = ZSTD_LEVEL,
): Uint8Array | undefined {
  return zstd().compressAtMost(data, maxBytes, dict, level);
}

export function decompress(frame: Uint8Array, into?: Uint8Array, checked = true): Uint8Array {
  return zstd().decompress(frame, into, checked);
}

export function compressWithDict(data: Uint8Array, dict: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
  return zstd().compressWithDict(data, dict, level);
}

export function decompressWithDict(
  frame: Uint8Array,
  dict: Uint8Array,
  into?: Uint8Array,
  checked = true,
): Uint8Array {
  return zstd().decompressWithDict(frame, dict, into, checked);
}
