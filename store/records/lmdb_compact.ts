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
import { killPoint, LMDB_DATA_FILE, type LmdbRecordStore } from "./lmdb_backend.ts";

export const COMPACTING_DIR = "compacting";
const LMDB_LOCK_FILE = "lock.mdb";

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
    await records.copyCompacted(tmp);
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
