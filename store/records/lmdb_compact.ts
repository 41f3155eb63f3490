/**
 * Compaction of a store's LMDB file. LMDB never gives pages back to the filesystem: a
 * record rewritten (a block made a delta, a head record replaced) leaves free pages
 * that only later writes reuse, and keys that arrive in hash order leave leaf pages
 * part empty. A dense copy has neither.
 *
 * Order, so a crash at any point leaves a store that opens as before or as after:
 * 1. write the copy into STORE/compacting/ (a leftover one is removed first); until
 *    step 3 the store is untouched;
 * 2. close the store's environment and remove its lock.mdb (LMDB makes a new one);
 * 3. rename compacting/data.mdb over data.mdb (atomic) and sync the directory;
 * 4. remove compacting/.
 * The caller holds the writer lock and the access lock exclusive: no other process has
 * the environment open while its file is replaced.
 */
import * as lmdb from "../../sys/lmdb/mod.ts";
import { killPoint } from "./kill_point.ts";
import { LMDB_DATA_FILE, type LmdbRecordStore, openEnv, PACKS_TABLE } from "./lmdb_backend.ts";
import { PACK_MAX_BYTES, PACK_MIN_BYTES, PackBuilder, PACKED_TABLES } from "./lmdb_packs.ts";
import { type Table, TABLES } from "./records.ts";

export const COMPACTING_DIR = "compacting";
const LMDB_LOCK_FILE = "lock.mdb";

/** Compaction copies this many bytes of records per transaction. */
const COPY_BATCH_BYTES = 64 << 20;

/** Removes what an interrupted compaction left; the store itself was not touched yet. */
export function removeLeftoverCompaction(dir: string): void {
  try {
    Deno.removeSync(`${dir}/${COMPACTING_DIR}`, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Replaces the data file of the store in `dir` by a dense copy; `records` is closed by it. */
export async function compactLmdb(dir: string, records: LmdbRecordStore): Promise<void> {
  removeLeftoverCompaction(dir);
  const tmp = `${dir}/${COMPACTING_DIR}`;
  Deno.mkdirSync(tmp);
  try {
    writeDenseCopy(records, tmp);
  } finally {
    await records.close();
  }
  killPoint();
  Deno.removeSync(`${dir}/${LMDB_LOCK_FILE}`);
  killPoint();
  Deno.renameSync(`${tmp}/${LMDB_DATA_FILE}`, `${dir}/${LMDB_DATA_FILE}`);
  syncDir(dir);
  killPoint();
  removeLeftoverCompaction(dir);
}

/** Makes a rename in `dir` durable. */
function syncDir(dir: string): void {
  const f = Deno.openSync(dir, { read: true });
  try {
    f.syncSync();
  } finally {
    f.close();
  }
}

/**
 * Writes every committed record into a new environment in `toDir`, table by table in
 * key order with MDB_APPEND, so its pages are full and it has no free pages; records
 * of packed tables small enough are written into packs.
 */
function writeDenseCopy(records: LmdbRecordStore, toDir: string): void {
  if (records.pendingChanges.count > 0) throw new Error("compaction with changes not committed");
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
      for (const [k, v] of records.range(t)) {
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
}
