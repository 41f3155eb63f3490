/** RecordStore on one LMDB environment with one named database per table. */
import * as lmdb from "../../sys/lmdb/mod.ts";
import type { ReadAheadMode } from "../../sys/lmdb/read_ahead.ts";
import { checkDataFile } from "./lmdb_file.ts";
import { mergeRange, PendingWrites } from "./pending_writes.ts";
import { decodePackRef, isPackRef, PACKED_TABLES, packKey, unpack } from "./lmdb_packs.ts";
import { ReadSnapshot } from "./lmdb_snapshot.ts";
import { killPoint } from "./kill_point.ts";
import { type KeyRange, type RecordStore, type Table, TABLES } from "./records.ts";
import { copyBytes } from "../../sys/small_bytes.ts";
import { readU64 } from "../codec.ts";
import { damaged, diskFull } from "./lmdb_errors.ts";

type Txn = Deno.PointerValue;

export const LMDB_DATA_FILE = "data.mdb";

/** LMDB database holding packs; not a record table (store/records/lmdb_packs.ts). */
export const PACKS_TABLE = "packs";

/**
 * Address space for LMDB's map. Only what is written takes room in the file; the map
 * is never grown, so no transaction ever fails for want of it.
 */
const MAP_BYTES = 2 ** 40;

export class LmdbRecordStore implements RecordStore {
  undone = 0;
  private readonly dbis: Record<Table, number | undefined>;
  /** "now": inside an LMDB write transaction; "later": inside a `writeLater`. */
  private inWrite: false | "now" | "later" = false;
  private writeTxn: Txn = null;
  /** Ranges open on the write transaction: LMDB frees their cursors at commit. */
  private writeRanges = 0;
  private readonly snapshot: ReadSnapshot;
  /** `writeLater` changes not committed yet; empty while a transaction applies them. */
  private readonly pending = new PendingWrites();
  private hooks?: { during(): void; after(): void };
  /** Open `holdViews`: each one's `end`, and its release. */
  private readonly holds = new Set<{ end(): void; release(): void }>();

  private constructor(private readonly env: lmdb.Env, private readonly dir: string) {
    const dbis = {} as Record<Table, number | undefined>;
    for (const t of TABLES) dbis[t] = env.dbi(t);
    this.dbis = dbis;
    this.snapshot = new ReadSnapshot(env);
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

  get(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.read(table, key, "copy");
  }

  peek(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.read(table, key, "view");
  }

  /** The transaction reads go through: the write transaction inside one, else the snapshot. */
  private txn(): Txn {
    return this.writeTxn ?? this.snapshot.txn();
  }

  /**
   * A value, pending or committed: a copy, or LMDB's bytes in place ("view"; "asked":
   * its pages were asked of the disk already).
   */
  private read(table: Table, key: Uint8Array, how: "copy" | "view" | "asked"): Uint8Array | undefined {
    const p = this.pending.get(table, key);
    if (p !== undefined) return p ?? undefined;
    const dbi = this.dbis[table];
    if (dbi === undefined) return undefined;
    try {
      const txn = this.txn();
      const value = how === "copy"
        ? this.env.copy(txn, dbi, key)
        : how === "view"
        ? this.env.view(txn, dbi, key)
        : this.env.viewAsked(txn, dbi, key);
      if (value === undefined) return undefined;
      if (PACKED_TABLES.has(table) && isPackRef(value)) {
        const bytes = this.unpacked(txn, table, value);
        return how === "copy" ? copyBytes(bytes) : bytes;
      }
      return value;
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
      return this.env.prefetchTogether(() =>
        keys.map((key) => {
          const p = this.pending.get(table, key);
          if (p !== undefined) return p ?? undefined;
          const value = dbi === undefined ? undefined : this.env.prefetch(txn, dbi, key);
          return value && packed && isPackRef(value) ? this.unpacked(txn, table, value, findPack) : value;
        })
      );
    } catch (e) {
      throw damaged(e, table);
    }
  }

  askAhead(table: Table, keys: readonly Uint8Array[]): boolean {
    const dbi = this.dbis[table];
    return dbi !== undefined && this.env.aheadValues(dbi, keys);
  }

  peekAll(table: Table, keys: readonly Uint8Array[], asked = false): (Uint8Array | undefined)[] {
    // Views of LMDB's map stay where they are until a write reuses their pages.
    if (asked) return keys.map((k) => this.read(table, k, "asked"));
    return this.prefetch(table, keys) ?? keys.map((k) => this.read(table, k, "view"));
  }

  holdViews(end: () => void): (() => void) | undefined {
    if (this.writeTxn) return undefined;
    const held = this.snapshot.hold();
    const hold = {
      end,
      release: () => {
        if (this.holds.delete(hold)) held.done();
      },
    };
    this.holds.add(hold);
    return hold.release;
  }

  /** Ends every `holdViews` still open: its `end`, then its release. */
  private endHolds(): void {
    for (const hold of [...this.holds]) {
      try {
        hold.end();
      } finally {
        hold.release();
      }
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
    // A view through the environment: a pack read ahead of its own is asked of the disk
    // in one request, not a page at a time as the record's bytes are touched.
    find = (packs: number, key: Uint8Array) => this.env.view(txn, packs, key),
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
    const held = writing ? undefined : this.snapshot.hold();
    const txn = held?.txn ?? this.writeTxn;
    if (writing) this.writeRanges++;
    try {
      for (const [key, value] of lmdb.range(txn, dbi, range.start, range.end, keysOnly)) {
        yield [key, packed && isPackRef(value) ? copyBytes(this.unpacked(txn, table, value)) : value];
      }
    } catch (e) {
      throw damaged(e, table);
    } finally {
      if (writing) this.writeRanges--;
      else held!.done();
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
    this.endHolds();
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
    this.snapshot.release();
  }

  close(): Promise<void> {
    this.endHolds();
    this.snapshot.close();
    this.env.close();
    return Promise.resolve();
  }
}

/** The store's environment in `dir`: its record tables and its packs. */
export function openEnv(dir: string, readOnly: boolean, readAhead?: ReadAheadMode): lmdb.Env {
  return lmdb.Env.open(dir, { readOnly, tables: [...TABLES, PACKS_TABLE], mapBytes: MAP_BYTES, readAhead });
}
