/**
 * `compact`: rewrites the store's file densely (store/records/lmdb_compact.ts), so it
 * takes about what its records hold. Only a process alone with the store may replace
 * its file: compaction takes the writer lock and the access lock exclusive, and is
 * skipped, saying why, while another process has the store open.
 */
import { compactLmdb } from "../records/lmdb_compact.ts";
import { LMDB_DATA_FILE } from "../records/lmdb_backend.ts";
import { openRecords } from "../open.ts";

export interface CompactResult {
  compacted: boolean;
  /** Why not, when not compacted. */
  reason?: string;
  /** The data file's size before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

export async function compactStore(dir: string): Promise<CompactResult> {
  const size = () => Deno.statSync(`${dir}/${LMDB_DATA_FILE}`).size;
  const { records, lock, access } = await openRecords(dir, { write: true });
  const bytesBefore = size();
  try {
    if (!access?.tryExclusive()) {
      await records.close();
      const reason = access ? "another process has the store open" : "its access lock cannot be made";
      return { compacted: false, reason, bytesBefore, bytesAfter: bytesBefore };
    }
    await compactLmdb(dir, records);
    return { compacted: true, bytesBefore, bytesAfter: size() };
  } finally {
    lock?.release();
    access?.release();
  }
}
