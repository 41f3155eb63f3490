/** RecordStore on one LMDB environment with one named database per table. */
import * as lmdb from "../../sys/lmdb/lmdb.ts";
import type { ReadAheadMode } from "../../sys/lmdb/read_ahead.ts";
import { checkDataFile } from "./lmdb_file.ts";
import { mergeRange, PendingWrites } from "./pending_writes.ts";
import {
  decodePackRef,
  isPackRef,
  PACK_MAX_BYTES,
  PACK_MIN_BYTES,
  PackBuilder,
  PACKED_TABLES,
  packKey,
  unpack,
} from "./lmdb_packs.ts";
import { type KeyRange, type RecordStore, type Table, TABLES } from "./records.ts";
import { copyBytes } from "../../sys/small_bytes.ts";
import { readU64 } from "../codec.ts";
import { damaged, diskFull } from "./lmdb_errors.ts";

type Txn = Deno.PointerValue;

export const LMDB_DATA_FILE = "data.mdb";

/**
 * Fault injection for the crash tests: REVFS_TEST_KILL_BEFORE_TXN=N makes the process
 * SIGKILL itself as its N-th write transaction begins, so a test can stop a command
 * between any two of its commits and check what the store holds.
 */
const killBeforeTxn = Number(Deno.env.get("REVFS_TEST_KILL_BEFORE_TXN") ?? 0);
let txnsBegun = 0;

/** A point where the crash tests may kill the process: each write transaction, and compaction's steps. */
export function killPoint(): void {
  if (killBeforeTxn > 0 && ++txnsBegun === killBeforeTxn) Deno.kill(Deno.pid, "SIGKILL");
}

/** LMDB database holding packs; not a record table (store/records/lmdb_packs.ts). */
const PACKS_TABLE = "packs";

/** Compaction copies this many bytes of records per transaction. */
const COPY_BATCH_BYTES = 64 << 20;

/**
 * Address space for LMDB's map. Only what is written takes room in the file; the map
 * is never grown, so no transaction ever fails for want of it.
 */
const MAP_BYTES = 2 ** 40;

/**
 * The read transaction reads outside a write go through. It is let go (reset) once the
 * code that used it yields (a microtask), and renewed by the next read: a snapshot held
 * longer keeps LMDB from reusing any page freed after it, and the file grows with every
 * write (seen: the loader thread's snapshot, held between its rare loads, made a history
 * of small edits 87 MiB where 3.8 sufficed). A range still open on it when it must move
 * on keeps it, `stale`, until the range ends.
 */
class Snapshot {
  ranges = 0;
  stale = false;
  /** Reset: renewed before its next use. */
  released = false;
  releaseQueued = false;
  constructor(readonly txn: Txn) {}
}

export class LmdbRecordStore implements RecordStore {
  undone = 0;
  private readonly dbis: Record<Table, number | undefined>;
  /** "now": inside an LMDB write transaction; "later": inside a `writeLater`. */
  private inWrite: false | "now" | "later" = false;
  private writeTxn: Txn = null;
  /** Ranges open on the write transaction: LMDB frees their cursors at commit. */
  private writeRanges = 0;
  private snapshot?: Snapshot;
  /** `writeLater` changes not committed yet; empty while a transaction applies them. */
  private readonly pending = new PendingWrites();
  private hooks?: { during(): void; after(): void };

  private constructor(private readonly env: lmdb.Env, private readonly dir: string) {
    const dbis = {} as Record<Table, number | undefined>;
    for (const t of TABLES) dbis[t] = env.dbi(t);
    this.dbis = dbis;
  }

  /**
   * Opens the environment in `dir`; `create` for a new store, else its file is checked
   * first. `readAhead`: who reads the file ahead (sys/lmdb/read_ahead.ts; by default
   * REVFS_LMDB_READAHEAD, else "auto"), for the first opening in this process.
   */
  static open(
    dir: string,
    opts: { readOnly?: boolean; create?: boolean; readAhead?: ReadAheadMode } = {},
  ): LmdbRecordStore {
    if (!opts.create) checkDataFile(`${dir}/${LMDB_DATA_FILE}`, dir);
    return new LmdbRecordStore(openEnv(dir, opts.readOnly ?? false, opts.readAhead), dir);
  }

  /**
   * Writes every committed record into a new environment in `toDir`, table by table in
   * key order with MDB_APPEND, so its pages are full and it has no free pages: the
   * dense copy compaction swaps in (store/records/lmdb_compact.ts).
   */
  copyCompacted(toDir: string): Promise<void> {
    if (this.pending.size > 0) throw new Error("compaction with changes not committed");
    const env = openEnv(toDir, false);
    try {
      const packsTo = env.dbi(PACKS_TABLE)!;
      const packs = new PackBuilder();
      // A value, or the number of a value waiting for its pack.
      let batch: [Table, Uint8Array, Uint8Array | number][] = [];
      let bytes = 0;
      // All tables are copied in one transaction while they fit in a batch: each
      // transaction rewrites LMDB's root page and frees the old one, so a transaction
      // per table would leave a small store's copy with free pages.
      const commit = () => {
        const { refs, packs: built } = packs.build();
        killPoint();
        // Packs commit with every reference to them.
        const txn = env.begin(false);
        try {
          for (const [k, v] of built) lmdb.put(txn, packsTo, k, v, lmdb.APPEND);
          for (const [t, k, v] of batch) {
            lmdb.put(txn, env.dbi(t)!, k, typeof v === "number" ? refs[v] : v, lmdb.APPEND);
          }
        } catch (e) {
          lmdb.abort(txn);
          throw e;
        }
        lmdb.commit(txn);
        batch = [];
        bytes = 0;
      };
      for (const t of TABLES) {
        const packing = PACKED_TABLES.has(t);
        for (const [k, v] of this.committedRange(t, {})) {
          const pack = packing && v.length >= PACK_MIN_BYTES && v.length <= PACK_MAX_BYTES;
          batch.push([t, k, pack ? packs.add(v) : v]);
          bytes += k.length + v.length;
          if (bytes >= COPY_BATCH_BYTES) commit();
        }
      }
      commit();
    } finally {
      env.close();
    }
    return Promise.resolve();
  }

  get(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.read(table, key, false);
  }

  peek(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.read(table, key, true);
  }

  /** The transaction reads go through: the write transaction inside one, else the snapshot. */
  private txn(): Txn {
    if (this.writeTxn !== null) return this.writeTxn;
    let s = this.snapshot;
    if (!s) {
      s = this.snapshot = new Snapshot(this.env.begin(true));
    } else if (s.released) {
      lmdb.renew(s.txn);
      s.released = false;
    }
    if (!s.releaseQueued) {
      s.releaseQueued = true;
      queueMicrotask(() => this.release(s));
    }
    return s.txn;
  }

  /** Lets a snapshot go: reset if no range reads it, else left to its ranges. */
  private release(s: Snapshot): void {
    s.releaseQueued = false;
    if (this.snapshot !== s || s.released) return;
    if (s.ranges > 0) {
      s.stale = true;
      this.snapshot = undefined;
      return;
    }
    lmdb.reset(s.txn);
    s.released = true;
  }

  /** A value, pending or committed; `view`: LMDB's bytes in place instead of a copy. */
  private read(table: Table, key: Uint8Array, view: boolean): Uint8Array | undefined {
    const p = this.pending.get(table, key);
    if (p !== undefined) return p ?? undefined;
    const dbi = this.dbis[table];
    if (dbi === undefined) return undefined;
    try {
      const value = this.env.view(this.txn(), dbi, key);
      if (value === undefined) return undefined;
      if (PACKED_TABLES.has(table) && isPackRef(value)) {
        const bytes = this.unpacked(this.txn(), table, value);
        return view ? bytes : copyBytes(bytes);
      }
      return view ? value : copyBytes(value);
    } catch (e) {
      throw damaged(e, table);
    }
  }

  prefetch(table: Table, keys: readonly Uint8Array[]): (Uint8Array | undefined)[] | undefined {
    if (!this.env.readsAhead) return undefined;
    const dbi = this.dbis[table];
    const packed = PACKED_TABLES.has(table);
    // Records written together share a pack: each pack is looked up and asked for once.
    const packs = new Map<number, Uint8Array | undefined>();
    try {
      const txn = this.txn();
      const findPack = (dbi: number, key: Uint8Array) => {
        const n = readU64(key);
        if (!packs.has(n)) packs.set(n, this.env.prefetch(txn, dbi, key));
        return packs.get(n);
      };
      return keys.map((key) => {
        const p = this.pending.get(table, key);
        if (p !== undefined) return p ?? undefined;
        const value = dbi === undefined ? undefined : this.env.prefetch(txn, dbi, key);
        return value && packed && isPackRef(value) ? this.unpacked(txn, table, value, findPack) : value;
      });
    } catch (e) {
      throw damaged(e, table);
    }
  }

  has(table: Table, key: Uint8Array): boolean {
    const p = this.pending.get(table, key);
    if (p !== undefined) return p !== null;
    const dbi = this.dbis[table];
    if (dbi === undefined) return false;
    try {
      return lmdb.has(this.txn(), dbi, key);
    } catch (e) {
      throw damaged(e, table);
    }
  }

  put(table: Table, key: Uint8Array, value: Uint8Array): void {
    if (!this.inWrite) throw new Error(`put to ${table} outside a write transaction`);
    // A later read must not see the caller's buffer change under it (the pending layer
    // keeps keys as strings: only the value needs a copy).
    if (this.inWrite === "later") this.pending.set(table, key, copyBytes(value));
    else lmdb.put(this.writeTxn, this.dbis[table]!, key, value);
  }

  del(table: Table, key: Uint8Array): void {
    if (!this.inWrite) throw new Error(`delete in ${table} outside a write transaction`);
    if (this.inWrite === "later") this.pending.set(table, key, null);
    else lmdb.del(this.writeTxn, this.dbis[table]!, key);
  }

  range(table: Table, range: KeyRange = {}): Iterable<[Uint8Array, Uint8Array]> {
    const pending = this.pending.entries(table, range);
    const committed = this.committedRange(table, range);
    return pending.length === 0 ? committed : mergeRange(committed, pending);
  }

  /**
   * The record a pack reference names, as a view of the pack (until the next read) read
   * in `txn`; `find` looks the pack up (a prefetch asks for its pages as it does).
   */
  private unpacked(
    txn: Txn,
    table: Table,
    ref: Uint8Array,
    find = (packs: number, key: Uint8Array) => lmdb.get(txn, packs, key, true),
  ): Uint8Array {
    const what = `${table} record`;
    const r = decodePackRef(ref, what);
    const packs = this.env.dbi(PACKS_TABLE);
    return unpack(packs === undefined ? undefined : find(packs, packKey(r.pack)), r, what);
  }

  private *committedRange(table: Table, range: KeyRange, keysOnly = false): Iterable<[Uint8Array, Uint8Array]> {
    const dbi = this.dbis[table];
    if (dbi === undefined) return;
    const packed = !keysOnly && PACKED_TABLES.has(table);
    // The transaction is held for the whole range: a commit meanwhile moves later reads
    // on, not this range.
    const writing = this.writeTxn !== null;
    const txn = this.txn();
    const snapshot = writing ? undefined : this.snapshot!;
    if (writing) this.writeRanges++;
    else snapshot!.ranges++;
    try {
      for (const [key, value] of lmdb.range(txn, dbi, range.start, range.end, keysOnly)) {
        yield [key, packed && isPackRef(value) ? copyBytes(this.unpacked(txn, table, value)) : value];
      }
    } catch (e) {
      throw damaged(e, table);
    } finally {
      if (writing) this.writeRanges--;
      else if (--snapshot!.ranges === 0 && snapshot!.stale) lmdb.abort(snapshot!.txn);
    }
  }

  *keys(table: Table, range: KeyRange = {}): Iterable<Uint8Array> {
    const pending = this.pending.entries(table, range);
    if (pending.length > 0) {
      for (const [k] of mergeRange(this.committedRange(table, range), pending)) yield k;
      return;
    }
    for (const [key] of this.committedRange(table, range, true)) yield key;
  }

  count(table: Table): number {
    const dbi = this.dbis[table];
    const txn = this.txn();
    let n = dbi === undefined ? 0 : lmdb.count(txn, dbi);
    for (const [k, v] of this.pending.entries(table)) {
      const committed = dbi !== undefined && lmdb.has(txn, dbi, k);
      if (v === null && committed) n--;
      if (v !== null && !committed) n++;
    }
    return n;
  }

  write<T>(fn: () => T): T {
    if (this.inWrite) return fn();
    killPoint();
    // Pending changes commit first, in the same transaction; they stay pending if it fails.
    const taken = this.pending.size > 0 ? this.pending.take() : undefined;
    this.inWrite = "now";
    let out: T;
    try {
      this.writeTxn = this.env.begin(false);
      try {
        if (taken) {
          this.applyPending(taken);
          this.hooks?.during();
        }
        out = fn();
        if (this.writeRanges > 0) throw new Error("a range over a write transaction was left open");
      } catch (e) {
        lmdb.abort(this.writeTxn);
        throw e;
      }
      lmdb.commit(this.writeTxn);
    } catch (e) {
      this.undone++;
      if (taken) this.pending.restore(taken);
      throw diskFull(e, this.dir) ?? e;
    } finally {
      this.writeTxn = null;
      this.writeRanges = 0;
      this.inWrite = false;
    }
    this.refresh();
    if (taken) {
      this.pending.markLogged();
      this.hooks?.after();
    }
    return out;
  }

  private applyPending(taken: PendingWrites): void {
    for (const [table, key, value] of taken.all()) {
      if (value === null) lmdb.del(this.writeTxn, this.dbis[table]!, key);
      else lmdb.put(this.writeTxn, this.dbis[table]!, key, value);
    }
  }

  writeLater<T>(fn: () => T): T {
    if (this.inWrite) return fn();
    this.inWrite = "later";
    this.pending.begin();
    try {
      const out = fn();
      this.pending.end();
      return out;
    } catch (e) {
      this.undone++;
      this.pending.rollback();
      throw e;
    } finally {
      this.inWrite = false;
    }
  }

  get pendingChanges(): { count: number; bytes: number } {
    return { count: this.pending.size, bytes: this.pending.bytes };
  }

  unloggedChanges(): [Table, Uint8Array, Uint8Array | null][] {
    return this.pending.unloggedEntries();
  }

  markLogged(): void {
    this.pending.markLogged();
  }

  onCommitPending(hooks: { during(): void; after(): void }): void {
    this.hooks = hooks;
  }

  /** Commits are synced before they return (LMDB's default): nothing is left to flush. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  refresh(): void {
    if (this.snapshot) this.release(this.snapshot);
  }

  close(): Promise<void> {
    // A reset transaction is aborted as any other (mdb_txn_abort frees it).
    if (this.snapshot && this.snapshot.ranges === 0) lmdb.abort(this.snapshot.txn);
    this.snapshot = undefined;
    this.env.close();
    return Promise.resolve();
  }
}

function openEnv(dir: string, readOnly: boolean, readAhead?: ReadAheadMode): lmdb.Env {
  return lmdb.Env.open(dir, { readOnly, tables: [...TABLES, PACKS_TABLE], mapBytes: MAP_BYTES, readAhead });
}
