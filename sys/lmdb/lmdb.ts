/**
 * LMDB through Deno FFI: the library sys/lmdb/build.sh builds from the sources of the
 * pinned lmdb npm package (the LMDB that wrote every revfs store), the calls the
 * store uses and no more. store/records/lmdb_backend.ts gives them meaning.
 *
 * Why not lmdb-js, which wraps the same C library: a value it returns is a copy (for a
 * block, 64 KiB copied before it is decoded), each key and value of a range a Node
 * Buffer of its own, and a read cannot say where in the file the value lies, which is
 * what reading ahead, or not, needs (the map's read-around on this machine is 8 MiB per
 * missing page). Here a value is a view of the map, and its address is known.
 *
 * One call at a time per thread: each module instance (one per thread) reuses its
 * MDB_val buffers.
 */
import { SMALL_BYTES, smallBytes } from "../small_bytes.ts";
import { defaultReadAheadMode, ReadAhead, type ReadAheadMode, takeOverReadAhead } from "./read_ahead.ts";

type Ptr = Deno.PointerValue;

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
  mdb_txn_commit: { parameters: ["pointer"], result: "i32" },
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
  mdb_strerror: { parameters: ["i32"], result: "pointer" },
  revfs_envs_lock: { parameters: [], result: "void" },
  revfs_envs_unlock: { parameters: [], result: "void" },
  revfs_envs_find: { parameters: ["buffer"], result: "pointer" },
  revfs_envs_add: { parameters: ["buffer", "pointer"], result: "i32" },
  revfs_envs_release: { parameters: ["pointer"], result: "i32" },
  revfs_envs_own_readahead: { parameters: ["pointer"], result: "i32" },
  revfs_envs_set_own_readahead: { parameters: ["pointer", "i32"], result: "void" },
} as const;

type Lib = Deno.DynamicLibrary<typeof symbols>["symbols"];

export const LIBRARY_PATH = new URL("../../.build/liblmdb.so", import.meta.url).pathname;

let loaded: Lib | undefined;

function lib(): Lib {
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

const RDONLY = 0x20000, NOTLS = 0x200000, CREATE = 0x40000;
export const APPEND = 0x20000;
const NOTFOUND = -30798;
const FIRST = 0, NEXT = 8, SET_RANGE = 17;

/** An LMDB call that failed: `message` is mdb_strerror's ("MDB_CORRUPTED: ..." or the errno's text). */
export class LmdbError extends Error {
  constructor(readonly code: number, what: string) {
    const p = lib().mdb_strerror(code);
    super(p ? Deno.UnsafePointerView.getCString(p) : `LMDB error ${code} (${what})`);
    this.name = "LmdbError";
  }
}

function check(rc: number, what: string): void {
  if (rc !== 0) throw new LmdbError(rc, what);
}

/** An MDB_val ({ size_t mv_size; void *mv_data }) with views to set and read it without BigInts where it can. */
class Val {
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
const key = new Val();
key.words[1] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(keyBytes)));
const value = new Val();
const cursorKey = new Val();
const cursorValue = new Val();
const out = new BigUint64Array(1);
const outView = new Deno.UnsafePointerView(Deno.UnsafePointer.of(out)!);

function setKey(k: Uint8Array): BigUint64Array {
  if (k.length > KEY_MAX) throw new Error(`LMDB key of ${k.length} bytes (at most ${KEY_MAX})`);
  keyBytes.set(k);
  key.size = k.length;
  return key.words;
}

/** The bytes an MDB_val points at: a copy (small ones share slabs), or a view of LMDB's memory. */
function bytesOf(v: Val, copy: boolean, readAhead?: ReadAhead): Uint8Array {
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

function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

export interface EnvOptions {
  readOnly: boolean;
  /** Named databases to open (created when writable). */
  tables: readonly string[];
  /** Address space for the map; the file grows only as pages are written. */
  mapBytes: number;
  /** Who reads the map ahead (sys/lmdb/read_ahead.ts; REVFS_LMDB_READAHEAD, else "auto"). */
  readAhead?: ReadAheadMode;
}

/**
 * An environment (one data file), shared by every user in this process (see
 * shared_envs.c): `close` closes it when its last user does.
 */
export class Env {
  private closed = false;
  /** Set when this environment's map is read ahead here, not by the kernel. */
  private readAhead?: ReadAhead;
  /** Each table's database handle; absent when a read-only environment lacks it. */
  private readonly dbis = new Map<string, number>();

  private constructor(readonly ptr: Ptr, readonly readOnly: boolean) {}

  /** `dir`'s environment (data.mdb and lock.mdb in it), opened or joined. */
  static open(dir: string, opts: EnvOptions): Env {
    const l = lib();
    const path = cString(dir);
    l.revfs_envs_lock();
    try {
      let ptr = l.revfs_envs_find(path);
      const joined = ptr !== null;
      if (!joined) {
        check(l.mdb_env_create(out), "env_create");
        ptr = outView.getPointer(0);
        try {
          check(l.mdb_env_set_maxdbs(ptr, opts.tables.length + 2), "set_maxdbs");
          check(l.mdb_env_set_mapsize(ptr, BigInt(opts.mapBytes)), "set_mapsize");
          // As lmdb-js sets them (its env.cpp), so free pages are found and kept alike.
          check(l.mdb_env_set_freespace_options(ptr, 50_000, 75_000), "set_freespace_options");
          check(l.mdb_env_open(ptr, path, NOTLS | (opts.readOnly ? RDONLY : 0), 0o664), `open ${dir}`);
        } catch (e) {
          l.mdb_env_close(ptr);
          throw e;
        }
        if (l.revfs_envs_add(path, ptr) === 0) {
          l.mdb_env_close(ptr);
          throw new Error("out of memory");
        }
      }
      const env = new Env(ptr, opts.readOnly);
      try {
        // Before the first page is touched: the kernel's read-around would bring in megabytes.
        if (!joined && takeOverReadAhead(`${dir}/data.mdb`, opts.readAhead ?? defaultReadAheadMode, env.map())) {
          l.revfs_envs_set_own_readahead(ptr, 1);
        }
        if (joined && !opts.readOnly && env.flags() & RDONLY) {
          throw new Error(`${dir} is open read-only in this process; it cannot be opened for writing too`);
        }
        // Joined: the first user made the tables; a write transaction here could wait on
        // one of that user's while holding the registry's lock.
        env.openTables(opts.tables, !opts.readOnly && !joined);
      } catch (e) {
        if (l.revfs_envs_release(ptr) === 1) l.mdb_env_close(ptr);
        throw e;
      }
      if (l.revfs_envs_own_readahead(ptr) !== 0) env.readAhead = new ReadAhead();
      return env;
    } finally {
      l.revfs_envs_unlock();
    }
  }

  private openTables(names: readonly string[], create: boolean): void {
    const txn = this.begin(!create);
    try {
      const dbi = new Uint32Array(1);
      for (const name of names) {
        const rc = lib().mdb_dbi_open(txn, cString(name), create ? CREATE : 0, dbi);
        if (rc === NOTFOUND) continue;
        check(rc, `open table ${name}`);
        this.dbis.set(name, dbi[0]);
      }
    } catch (e) {
      lib().mdb_txn_abort(txn);
      throw e;
    }
    // Committed, also when read-only: LMDB keeps the handles a transaction opened only
    // if it commits.
    commit(txn);
  }

  private flags(): number {
    const f = new Uint32Array(1);
    check(lib().mdb_env_get_flags(this.ptr, f), "env_get_flags");
    return f[0];
  }

  /** A table's handle; undefined when a read-only environment has no such table. */
  dbi(name: string): number | undefined {
    return this.dbis.get(name);
  }

  /** Where the map starts, and its size: what madvise() is given. */
  map(): { address: Ptr; bytes: number } {
    const info = new BigUint64Array(6);
    check(lib().mdb_env_info(this.ptr, info), "env_info");
    return { address: Deno.UnsafePointer.create(info[0]), bytes: Number(info[1]) };
  }

  /**
   * `get`'s view (LMDB's bytes in place, see there), its pages asked for first when
   * this environment reads ahead itself.
   */
  view(txn: Ptr, dbi: number, k: Uint8Array): Uint8Array | undefined {
    const rc = lib().mdb_get(txn, dbi, setKey(k), value.words);
    if (rc === NOTFOUND) return undefined;
    check(rc, "get");
    return bytesOf(value, false, this.readAhead);
  }

  /** Whether this environment reads its map ahead itself (else the kernel does): see `prefetch`. */
  get readsAhead(): boolean {
    return this.readAhead !== undefined;
  }

  /**
   * `view`, and when this environment reads ahead itself, the value's pages asked of
   * the disk now without waiting for them (a caller that knows what it reads next asks
   * for it all before reading any).
   */
  prefetch(txn: Ptr, dbi: number, k: Uint8Array): Uint8Array | undefined {
    const rc = lib().mdb_get(txn, dbi, setKey(k), value.words);
    if (rc === NOTFOUND) return undefined;
    check(rc, "get");
    this.readAhead?.prefetch(Number(Deno.UnsafePointer.value(value.data)), value.size);
    return bytesOf(value, false);
  }

  begin(readOnly: boolean): Ptr {
    if (this.closed) throw new Error("LMDB environment used after close");
    check(lib().mdb_txn_begin(this.ptr, null, readOnly ? RDONLY : 0, out), "txn_begin");
    return outView.getPointer(0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const l = lib();
    l.revfs_envs_lock();
    try {
      if (l.revfs_envs_release(this.ptr) === 1) l.mdb_env_close(this.ptr);
    } finally {
      l.revfs_envs_unlock();
    }
  }
}

/** This LMDB's answer to a commit that changed nothing: the transaction ended, as a commit's does. */
const EMPTY_TXN = -30774;

export function commit(txn: Ptr): void {
  const rc = lib().mdb_txn_commit(txn);
  if (rc !== EMPTY_TXN) check(rc, "commit");
}

export function abort(txn: Ptr): void {
  lib().mdb_txn_abort(txn);
}

/** Releases a read transaction's snapshot, keeping its slot for `renew`. */
export function reset(txn: Ptr): void {
  lib().mdb_txn_reset(txn);
}

export function renew(txn: Ptr): void {
  check(lib().mdb_txn_renew(txn), "txn_renew");
}

/**
 * The value of `k`: a copy, or (`view`) LMDB's own bytes, valid while `txn` is and no
 * write in it touches them (read-only memory: writing to it kills the process).
 */
export function get(txn: Ptr, dbi: number, k: Uint8Array, view = false): Uint8Array | undefined {
  const rc = lib().mdb_get(txn, dbi, setKey(k), value.words);
  if (rc === NOTFOUND) return undefined;
  check(rc, "get");
  return bytesOf(value, !view);
}

export function has(txn: Ptr, dbi: number, k: Uint8Array): boolean {
  const rc = lib().mdb_get(txn, dbi, setKey(k), value.words);
  if (rc === NOTFOUND) return false;
  check(rc, "get");
  return true;
}

export function put(txn: Ptr, dbi: number, k: Uint8Array, v: Uint8Array, flags = 0): void {
  check(lib().mdb_put(txn, dbi, setKey(k), value.of(v).words, flags), "put");
}

/** Deletes `k`; false when it was not there. */
export function del(txn: Ptr, dbi: number, k: Uint8Array): boolean {
  const rc = lib().mdb_del(txn, dbi, setKey(k), null);
  if (rc === NOTFOUND) return false;
  check(rc, "del");
  return true;
}

/** Entries in the table (mdb_stat's ms_entries). */
export function count(txn: Ptr, dbi: number): number {
  const stat = new BigUint64Array(5);
  check(lib().mdb_stat(txn, dbi, stat), "stat");
  return Number(stat[4]);
}

/**
 * Keys from `start` (inclusive) to `end` (exclusive) in byte order, copied, with their
 * values unless `keysOnly`. The cursor is closed when the iteration ends or is left.
 */
export function* range(
  txn: Ptr,
  dbi: number,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  keysOnly = false,
): Generator<[Uint8Array, Uint8Array]> {
  const l = lib();
  check(l.mdb_cursor_open(txn, dbi, out), "cursor_open");
  const cursor = outView.getPointer(0);
  const none = new Uint8Array(0);
  try {
    let op = FIRST;
    if (start && start.length > 0) {
      setKey(start);
      cursorKey.words[0] = key.words[0];
      cursorKey.words[1] = key.words[1];
      op = SET_RANGE;
    }
    for (;;) {
      const rc = l.mdb_cursor_get(cursor, cursorKey.words, cursorValue.words, op);
      if (rc === NOTFOUND) return;
      check(rc, "cursor_get");
      op = NEXT;
      const k = bytesOf(cursorKey, true);
      if (end && compare(k, end) >= 0) return;
      yield [k, keysOnly ? none : bytesOf(cursorValue, true)];
    }
  } finally {
    l.mdb_cursor_close(cursor);
  }
}

/** Byte order, as LMDB's default comparison (memcmp, then length). */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
