/**
 * An LMDB environment: one data file, opened once per process and shared by its users
 * (shared_envs.c), its tables, and reads that return LMDB's own bytes in place.
 *
 * Why not lmdb-js, which wraps the same C library: a value it returns is a copy (for a
 * block, 64 KiB copied before it is decoded), each key and value of a range a Node
 * Buffer of its own, and a read cannot say where in the file the value lies, which is
 * what reading ahead, or not, needs (the map's read-around on this machine is 8 MiB per
 * missing page). Here a value is a view of the map, and its address is known.
 */
import {
  bytesOf,
  check,
  CREATE,
  cString,
  getCopy,
  lib,
  locate,
  NOTFOUND,
  NOTLS,
  out,
  outView,
  type Ptr,
  RDONLY,
  value,
} from "./ffi.ts";
import { defaultReadAheadMode, ReadAhead, type ReadAheadMode, takeOverReadAhead } from "./read_ahead.ts";
import { commit } from "./txn.ts";

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
      if (l.revfs_envs_own_readahead(ptr) !== 0) env.readAhead = new ReadAhead(ptr);
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

  /** How many freed pages LMDB keeps for reuse (sys/lmdb/spare_pages.c): a few at most. */
  sparePages(): number {
    return Number(lib().revfs_env_spare_pages(this.ptr));
  }

  /** Where the map starts, and its size: what madvise() is given. */
  map(): { address: Ptr; bytes: number } {
    const info = new BigUint64Array(6);
    check(lib().mdb_env_info(this.ptr, info), "env_info");
    return { address: Deno.UnsafePointer.create(info[0]), bytes: Number(info[1]) };
  }

  /**
   * The value of `k` as LMDB's own bytes in place, valid while `txn` is and no write in
   * it touches them (read-only memory: writing to it kills the process); its pages asked
   * for first when this environment reads ahead itself.
   */
  view(txn: Ptr, dbi: number, k: Uint8Array): Uint8Array | undefined {
    if (!locate(txn, dbi, k)) return undefined;
    return bytesOf(value, false, this.readAhead);
  }

  /**
   * `view` of a value whose pages were asked of the disk already (read ahead of a
   * reader in order): nothing asked again, and the sequential reader's place kept.
   */
  viewAsked(txn: Ptr, dbi: number, k: Uint8Array): Uint8Array | undefined {
    if (!locate(txn, dbi, k)) return undefined;
    return bytesOf(value, false);
  }

  /**
   * `get`'s copy, its pages asked for first when this environment reads ahead itself.
   * Cheaper than a view and a copy of it for a small value: no ArrayBuffer is made over
   * LMDB's memory (5 us a call here).
   */
  copy(txn: Ptr, dbi: number, k: Uint8Array): Uint8Array | undefined {
    return getCopy(txn, dbi, k, this.readAhead);
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
    if (!locate(txn, dbi, k)) return undefined;
    this.readAhead?.prefetch(Number(Deno.UnsafePointer.value(value.data)), value.size);
    return bytesOf(value, false);
  }

  /**
   * The values of `keys` (all of one length) in table `dbi` found and asked of the disk
   * on a helper thread (sys/lmdb/map_ahead.c), when this environment reads ahead itself:
   * nothing here waits for a leaf page. False when not asked (the helper is busy, or
   * the kernel reads ahead): the caller may `prefetch` here instead.
   */
  aheadValues(dbi: number, keys: readonly Uint8Array[]): boolean {
    if (!this.readAhead || keys.length === 0) return false;
    const len = keys[0].length;
    const packed = new Uint8Array(len * keys.length);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i].length !== len) return false;
      packed.set(keys[i], i * len);
    }
    return lib().revfs_ahead_values(this.ptr, dbi, packed, keys.length, len) === 0;
  }

  /** Runs `fn`; the values it prefetches are asked for together at its end, in address order. */
  prefetchTogether<T>(fn: () => T): T {
    return this.readAhead ? this.readAhead.gather(fn) : fn();
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
      if (l.revfs_envs_release(this.ptr) === 1) {
        l.revfs_ahead_forget(this.ptr);
        l.mdb_env_close(this.ptr);
      }
    } finally {
      l.revfs_envs_unlock();
    }
  }
}
