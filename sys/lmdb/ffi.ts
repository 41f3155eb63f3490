/**
 * LMDB through Deno FFI, the raw layer: the library sys/lmdb/build.sh builds from the
 * sources of the pinned lmdb npm package (the LMDB that wrote every revfs store), the
 * calls the store uses and no more, and the MDB_val buffers they are made with.
 *
 * One call at a time per thread: each module instance (one per thread) reuses its
 * MDB_val buffers, so a value must be read out of `value` before the next call.
 */
import { copyBytes, SMALL_BYTES, smallBytes } from "../small_bytes.ts";
import type { ReadAhead } from "./read_ahead.ts";

export type Ptr = Deno.PointerValue;

const symbols = {
  mdb_env_create: { parameters: ["buffer"], result: "i32" },
  mdb_env_set_mapsize: { parameters: ["pointer", "usize"], result: "i32" },
  mdb_env_set_maxdbs: { parameters: ["pointer", "u32"], result: "i32" },
  mdb_env_set_freespace_options: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  mdb_env_open: { parameters: ["pointer", "buffer", "u32", "u32"], result: "i32" },
  mdb_env_close: { parameters: ["pointer"], result: "void" },
  mdb_env_info: { parameters: ["pointer", "buffer"], result: "i32" },
  mdb_env_get_flags: { parameters: ["pointer", "buffer"], result: "i32" },
  mdb_txn_begin: { parameters: ["pointer", "pointer", "u32", "buffer"], result: "i32" },
  revfs_txn_commit: { parameters: ["pointer"], result: "i32" },
  revfs_env_spare_pages: { parameters: ["pointer"], result: "i64" },
  mdb_txn_abort: { parameters: ["pointer"], result: "void" },
  mdb_txn_reset: { parameters: ["pointer"], result: "void" },
  mdb_txn_renew: { parameters: ["pointer"], result: "i32" },
  mdb_dbi_open: { parameters: ["pointer", "buffer", "u32", "buffer"], result: "i32" },
  mdb_stat: { parameters: ["pointer", "u32", "buffer"], result: "i32" },
  mdb_get: { parameters: ["pointer", "u32", "buffer", "buffer"], result: "i32" },
  mdb_put: { parameters: ["pointer", "u32", "buffer", "buffer", "u32"], result: "i32" },
  mdb_del: { parameters: ["pointer", "u32", "buffer", "pointer"], result: "i32" },
  mdb_cursor_open: { parameters: ["pointer", "u32", "buffer"], result: "i32" },
  mdb_cursor_get: { parameters: ["pointer", "buffer", "buffer", "u32"], result: "i32" },
  mdb_cursor_close: { parameters: ["pointer"], result: "void" },
  revfs_get_copy: { parameters: ["pointer", "u32", "buffer", "buffer", "buffer", "u32"], result: "i32" },
  revfs_cursor_get_copy: { parameters: ["pointer", "buffer", "buffer", "u32", "buffer", "u32"], result: "i32" },
  mdb_strerror: { parameters: ["i32"], result: "pointer" },
  revfs_envs_lock: { parameters: [], result: "void" },
  revfs_envs_unlock: { parameters: [], result: "void" },
  revfs_envs_find: { parameters: ["buffer"], result: "pointer" },
  revfs_envs_add: { parameters: ["buffer", "pointer"], result: "i32" },
  revfs_envs_release: { parameters: ["pointer"], result: "i32" },
  revfs_envs_own_readahead: { parameters: ["pointer"], result: "i32" },
  revfs_envs_set_own_readahead: { parameters: ["pointer", "i32"], result: "void" },
  revfs_ahead_range: { parameters: ["pointer", "pointer", "usize"], result: "i32" },
  revfs_ahead_values: { parameters: ["pointer", "u32", "buffer", "u32", "u32"], result: "i32" },
  revfs_ahead_forget: { parameters: ["pointer"], result: "void" },
} as const;

type Lib = Deno.DynamicLibrary<typeof symbols>["symbols"];

export const LIBRARY_PATH = new URL("../../.build/liblmdb.so", import.meta.url).pathname;

let loaded: Lib | undefined;

export function lib(): Lib {
  if (!loaded) {
    try {
      loaded = Deno.dlopen(LIBRARY_PATH, symbols).symbols;
    } catch (e) {
      throw new Error(
        `cannot load ${LIBRARY_PATH} (build it with bash sys/lmdb/build.sh, or bash .ci/setup): ${
          (e as Error).message
        }`,
      );
    }
  }
  return loaded;
}

export const RDONLY = 0x20000, NOTLS = 0x200000, CREATE = 0x40000;
export const NOTFOUND = -30798;
export const FIRST = 0, NEXT = 8, SET_RANGE = 17;

/** An LMDB call that failed: `message` is mdb_strerror's ("MDB_CORRUPTED: ..." or the errno's text). */
export class LmdbError extends Error {
  constructor(readonly code: number, what: string) {
    const p = lib().mdb_strerror(code);
    super(p ? Deno.UnsafePointerView.getCString(p) : `LMDB error ${code} (${what})`);
    this.name = "LmdbError";
  }
}

export function check(rc: number, what: string): void {
  if (rc !== 0) throw new LmdbError(rc, what);
}

/** An MDB_val ({ size_t mv_size; void *mv_data }) with views to set and read it without BigInts where it can. */
export class Val {
  readonly words = new BigUint64Array(2);
  private readonly halves = new Uint32Array(this.words.buffer);
  private readonly view = new Deno.UnsafePointerView(Deno.UnsafePointer.of(this.words)!);

  get size(): number {
    return this.halves[0] + this.halves[1] * 2 ** 32;
  }

  set size(n: number) {
    this.halves[0] = n >>> 0;
    this.halves[1] = Math.floor(n / 2 ** 32);
  }

  get data(): Ptr {
    return this.view.getPointer(8);
  }

  /** Points at `bytes` (which must stay alive and unchanged for the call). */
  of(bytes: Uint8Array): this {
    this.size = bytes.length;
    this.words[1] = bytes.length === 0 ? 0n : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    return this;
  }
}

/** Keys are copied into one buffer whose address is set once: no pointer lookup per call. */
const KEY_MAX = 2048;
const keyBytes = new Uint8Array(KEY_MAX);
export const key = new Val();
key.words[1] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(keyBytes)));
export const value = new Val();
export const cursorKey = new Val();
export const cursorValue = new Val();
/** Where a call writes the pointer it creates (an environment, a transaction, a cursor). */
export const out = new BigUint64Array(1);
export const outView = new Deno.UnsafePointerView(Deno.UnsafePointer.of(out)!);

export function setKey(k: Uint8Array): BigUint64Array {
  if (k.length > KEY_MAX) throw new Error(`LMDB key of ${k.length} bytes (at most ${KEY_MAX})`);
  keyBytes.set(k);
  key.size = k.length;
  return key.words;
}

/** The bytes an MDB_val points at: a copy (small ones share slabs), or a view of LMDB's memory. */
export function bytesOf(v: Val, copy: boolean, readAhead?: ReadAhead): Uint8Array {
  const n = v.size;
  if (n === 0) return new Uint8Array(0);
  if (!copy) {
    const data = v.data!;
    readAhead?.willRead(Number(Deno.UnsafePointer.value(data)), n);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(data, n));
  }
  const to = n <= SMALL_BYTES ? smallBytes(n) : new Uint8Array(n);
  Deno.UnsafePointerView.copyInto(v.data!, to);
  return to;
}

export function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/**
 * Values up to this size are copied out by the call that finds them (sys/lmdb/copy_reads.c)
 * into `copied`, whence a key and value are cut: no call into Deno's runtime per value.
 */
const COPY_MAX = SMALL_BYTES;
const copied = new Uint8Array(2 * COPY_MAX);

/** mdb_get of `k`, copied; the ReadAhead is told of values too large to copy in the call. */
export function getCopy(txn: Ptr, dbi: number, k: Uint8Array, readAhead?: ReadAhead): Uint8Array | undefined {
  const rc = lib().revfs_get_copy(txn, dbi, setKey(k), value.words, copied, COPY_MAX);
  if (rc === NOTFOUND) return undefined;
  check(rc, "get");
  const n = value.size;
  if (n <= COPY_MAX) return copyBytes(copied, 0, n);
  readAhead?.willRead(Number(Deno.UnsafePointer.value(value.data)), n);
  return bytesOf(value, true);
}

/**
 * mdb_cursor_get into `cursorKey` and `cursorValue`, both copied (the value only unless
 * `keysOnly`); undefined at the end of the table.
 */
export function cursorCopy(cursor: Ptr, op: number, keysOnly: boolean): [Uint8Array, Uint8Array] | undefined {
  const rc = lib().revfs_cursor_get_copy(cursor, cursorKey.words, cursorValue.words, op, copied, 2 * COPY_MAX);
  if (rc === NOTFOUND) return undefined;
  check(rc, "cursor_get");
  const k = cursorKey.size, v = keysOnly ? 0 : cursorValue.size;
  if (k + cursorValue.size <= 2 * COPY_MAX) return [copyBytes(copied, 0, k), copyBytes(copied, k, k + v)];
  return [bytesOf(cursorKey, true), keysOnly ? new Uint8Array(0) : bytesOf(cursorValue, true)];
}

/** mdb_get of `k` into `value`; false when the table has no such key. */
export function locate(txn: Ptr, dbi: number, k: Uint8Array): boolean {
  const rc = lib().mdb_get(txn, dbi, setKey(k), value.words);
  if (rc === NOTFOUND) return false;
  check(rc, "get");
  return true;
}
