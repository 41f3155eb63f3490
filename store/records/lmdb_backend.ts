/** RecordStore on one LMDB environment with one named database per table. */
import { type Database, open, type RootDatabase, type RootDatabaseOptions } from "lmdb";
import { statfsSync } from "node:fs";
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
import { RevfsError } from "../types.ts";
import { copyBytes } from "../../sys/small_bytes.ts";

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

export class LmdbRecordStore implements RecordStore {
  undone = 0;
  private readonly dbs: Record<Table, Database<Uint8Array, Uint8Array>>;
  /** "now": inside an LMDB write transaction; "later": inside a `writeLater`. */
  private inWrite: false | "now" | "later" = false;
  /** `writeLater` changes not committed yet; empty while a transaction applies them. */
  private readonly pending = new PendingWrites();
  private hooks?: { during(): void; after(): void };
  /** Table `packs` (store/records/lmdb_packs.ts), opened when a packed record is first read. */
  private packsDb?: Database<Uint8Array, Uint8Array>;

  private constructor(private readonly env: RootDatabase<Uint8Array, Uint8Array>, private readonly dir: string) {
    const dbs = {} as Record<Table, Database<Uint8Array, Uint8Array>>;
    for (const t of TABLES) dbs[t] = openTable(env, t);
    this.dbs = dbs;
  }

  /** Opens the environment in `dir`; `create` for a new store, else its file is checked first. */
  static open(dir: string, opts: { readOnly?: boolean; create?: boolean } = {}): LmdbRecordStore {
    if (!opts.create) checkDataFile(`${dir}/${LMDB_DATA_FILE}`, dir);
    return new LmdbRecordStore(openEnv(dir, opts.readOnly ?? false), dir);
  }

  /**
   * Writes every committed record into a new environment in `toDir`, table by table in
   * key order with MDB_APPEND, so its pages are full and it has no free pages: the
   * dense copy compaction swaps in (store/records/lmdb_compact.ts).
   */
  async copyCompacted(toDir: string): Promise<void> {
    if (this.pending.size > 0) throw new Error("compaction with changes not committed");
    const env = openEnv(toDir, false);
    try {
      // All tables are made in the first transaction and copied in one while they fit in
      // a batch: each transaction rewrites LMDB's root page and frees the old one, so a
      // transaction per table would leave a small store's copy with free pages.
      let dbs: { packs: Database<Uint8Array, Uint8Array>; tables: Record<Table, Database<Uint8Array, Uint8Array>> };
      const open = (name: string) => openTable(env, name);
      const openAll = () =>
        dbs ??= {
          packs: open(PACKS_TABLE),
          tables: Object.fromEntries(TABLES.map((t) => [t, open(t)])) as Record<
            Table,
            Database<Uint8Array, Uint8Array>
          >,
        };
      const packs = new PackBuilder();
      // A value, or the number of a value waiting for its pack.
      let batch: [Table, Uint8Array, Uint8Array | number][] = [];
      let bytes = 0;
      const commit = () => {
        const { refs, packs: built } = packs.build();
        killPoint();
        // Packs commit with every reference to them.
        env.transactionSync(() => {
          const { packs: packsTo, tables: to } = openAll();
          for (const [k, v] of built) packsTo.putSync(k, v, { append: true });
          for (const [t, k, v] of batch) to[t].putSync(k, typeof v === "number" ? refs[v] : v, { append: true });
        });
        batch = [];
        bytes = 0;
      };
      for (const t of TABLES) {
        const packing = PACKED_TABLES.has(t);
        for (const [k, v] of this.committedRange(t, {})) {
          const pack = packing && v.length >= PACK_MIN_BYTES && v.length <= PACK_MAX_BYTES;
          batch.push([t, k.slice(), pack ? packs.add(v.slice()) : v.slice()]);
          bytes += k.length + v.length;
          if (bytes >= COPY_BATCH_BYTES) commit();
        }
      }
      commit();
      await env.flushed;
    } finally {
      await env.close();
    }
  }

  get(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.read(table, key, false);
  }

  peek(table: Table, key: Uint8Array): Uint8Array | undefined {
    return this.read(table, key, true);
  }

  /** A value, pending or committed; `view`: LMDB's bytes in place instead of a copy. */
  private read(table: Table, key: Uint8Array, view: boolean): Uint8Array | undefined {
    const p = this.pending.get(table, key);
    if (p !== undefined) return p ?? undefined;
    try {
      // getBinaryFast gives a view of LMDB's map (a large value) or of lmdb-js's reused
      // buffer (a small one), whose `length` lmdb-js sets to the value's size. A copy is
      // made here, not by getBinary: its slice makes a Node Buffer, which costs Deno
      // several microseconds (a fifth of a lookup's time in the mount).
      const v = this.dbs[table].getBinaryFast(key);
      if (v === undefined) return undefined;
      const value = new Uint8Array(v.buffer, v.byteOffset, v.length);
      if (PACKED_TABLES.has(table) && isPackRef(value)) return this.unpacked(table, value, view);
      return view ? value : copyBytes(value);
    } catch (e) {
      throw damaged(e, table);
    }
  }

  has(table: Table, key: Uint8Array): boolean {
    const p = this.pending.get(table, key);
    if (p !== undefined) return p !== null;
    try {
      return this.dbs[table].doesExist(key);
    } catch (e) {
      throw damaged(e, table);
    }
  }

  put(table: Table, key: Uint8Array, value: Uint8Array): void {
    if (!this.inWrite) throw new Error(`put to ${table} outside a write transaction`);
    // A later read must not see the caller's buffer change under it (the pending layer
    // keeps keys as strings: only the value needs a copy).
    if (this.inWrite === "later") this.pending.set(table, key, copyBytes(value));
    else this.dbs[table].putSync(key, value);
  }

  del(table: Table, key: Uint8Array): void {
    if (!this.inWrite) throw new Error(`delete in ${table} outside a write transaction`);
    if (this.inWrite === "later") this.pending.set(table, key, null);
    else this.dbs[table].removeSync(key);
  }

  range(table: Table, range: KeyRange = {}): Iterable<[Uint8Array, Uint8Array]> {
    const pending = this.pending.entries(table, range);
    const committed = this.committedRange(table, range);
    return pending.length === 0 ? committed : mergeRange(committed, pending);
  }

  /** The record a pack reference names: a view of the pack (until the next read), or a copy. */
  private unpacked(table: Table, ref: Uint8Array, view: boolean): Uint8Array {
    const what = `${table} record`;
    const r = decodePackRef(ref, what);
    this.packsDb ??= this.env.openDB<Uint8Array, Uint8Array>({
      name: PACKS_TABLE,
      keyEncoding: "binary",
      encoding: "binary",
    });
    const pack = this.packsDb.getBinaryFast(packKey(r.pack));
    const bytes = unpack(pack && new Uint8Array(pack.buffer, pack.byteOffset, pack.length), r, what);
    return view ? bytes : copyBytes(bytes);
  }

  private *committedRange(table: Table, range: KeyRange): Iterable<[Uint8Array, Uint8Array]> {
    const packed = PACKED_TABLES.has(table);
    try {
      for (const { key, value } of this.dbs[table].getRange(range)) {
        yield [key, packed && isPackRef(value) ? this.unpacked(table, value, false) : value];
      }
    } catch (e) {
      throw damaged(e, table);
    }
  }

  *keys(table: Table, range: KeyRange = {}): Iterable<Uint8Array> {
    const pending = this.pending.entries(table, range);
    if (pending.length > 0) {
      for (const [k] of mergeRange(this.committedRange(table, range), pending)) yield k;
      return;
    }
    try {
      for (const key of this.dbs[table].getKeys(range)) yield key;
    } catch (e) {
      throw damaged(e, table);
    }
  }

  count(table: Table): number {
    let n = this.dbs[table].getCount();
    for (const [k, v] of this.pending.entries(table)) {
      const committed = this.dbs[table].doesExist(k);
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
      out = this.env.transactionSync(() => {
        if (taken) {
          this.applyPending(taken);
          this.hooks?.during();
        }
        return fn();
      });
    } catch (e) {
      this.undone++;
      if (taken) this.pending.restore(taken);
      throw this.diskFull(e) ?? e;
    } finally {
      this.inWrite = false;
    }
    if (taken) {
      this.pending.markLogged();
      this.hooks?.after();
    }
    return out;
  }

  private applyPending(taken: PendingWrites): void {
    for (const [table, key, value] of taken.all()) {
      if (value === null) this.dbs[table].removeSync(key);
      else this.dbs[table].putSync(key, value);
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

  /**
   * A commit that failed because the filesystem is full, as one clear error. LMDB
   * reports a short write as EIO, so the free space tells: under a megabyte left.
   * The transaction was aborted: the store is as before it.
   */
  private diskFull(e: unknown): RevfsError | undefined {
    const msg = e instanceof Error ? e.message : String(e);
    if (!/Input\/output error|No space left|ENOSPC|EIO/.test(msg)) return undefined;
    try {
      const fs = statfsSync(this.dir);
      if (fs.bavail * fs.bsize >= 1 << 20) return undefined;
    } catch {
      return undefined;
    }
    return new RevfsError("NO_SPACE", `no space left on the filesystem of store ${this.dir}; nothing was written`);
  }

  async flush(): Promise<void> {
    await this.env.flushed;
  }

  refresh(): void {
    // lmdb-js renews its read transaction on a timer; a worker serving messages back to
    // back may not reach it, and would miss blocks committed since.
    this.env.resetReadTxn();
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

/** LMDB's own errors about its pages (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...) are damage to report, not bugs. */
function damaged(e: unknown, table: Table): unknown {
  const msg = e instanceof Error ? e.message : String(e);
  if (!/^MDB_(CORRUPTED|PAGE_NOTFOUND|BAD_TXN|INVALID|VERSION_MISMATCH)/.test(msg)) return e;
  return new RevfsError("CORRUPT", `the store's LMDB file is damaged (reading ${table}): ${msg}`);
}

/**
 * A table's database. lmdb-js would hand each key and value of a range over as a Node
 * Buffer of its own, a slice of its shared buffer: several microseconds each in Deno,
 * most of a directory listing's time. Keys and values are copied here instead
 * (sys/small_bytes.ts), into plain Uint8Arrays, through lmdb-js's documented `encoder`
 * hook (values; `decode` is told the buffer is reused) and its `readKey` (keys, which
 * lmdb-js 3 reads through this method of the database for binary keys).
 */
function openTable(env: RootDatabase<Uint8Array, Uint8Array>, name: string): Database<Uint8Array, Uint8Array> {
  const options: RootDatabaseOptions & { name: string } = {
    name,
    keyEncoding: "binary",
    encoding: "binary",
    encoder: {
      encode: (v: Uint8Array) => v,
      decode: (bytes: Uint8Array & { isGlobal?: boolean }, size: number) =>
        bytes.isGlobal ? copyBytes(bytes, 0, size) : new Uint8Array(bytes.buffer, bytes.byteOffset, size),
    },
  };
  const db = env.openDB<Uint8Array, Uint8Array>(options);
  const keyed = db as unknown as { readKey(b: Uint8Array, start: number, end: number): Uint8Array };
  if (typeof keyed.readKey !== "function") throw new Error("lmdb-js no longer reads keys through readKey");
  keyed.readKey = copyBytes;
  return db;
}

function openEnv(dir: string, readOnly: boolean): RootDatabase<Uint8Array, Uint8Array> {
  return open<Uint8Array, Uint8Array>({
    path: dir,
    // lmdb-js takes a path with an extension ("notes.store") for a file, not a directory.
    noSubdir: false,
    maxDbs: TABLES.length + 4,
    keyEncoding: "binary",
    encoding: "binary",
    readOnly,
    // Revisions must be durable when the snapshot call returns.
    noSync: false,
    overlappingSync: false,
    cache: false,
  });
}
