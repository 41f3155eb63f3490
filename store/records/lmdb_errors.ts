/** LMDB's failures told as the store's errors: a damaged file, a full disk. */
import { RevfsError } from "../types.ts";
import type { Table } from "./records.ts";
import { availableBytes } from "../../sys/libc.ts";

/** LMDB's own errors about its pages (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...) are damage to report, not bugs. */
export function damaged(e: unknown, table: Table): unknown {
  const msg = e instanceof Error ? e.message : String(e);
  if (!/^MDB_(CORRUPTED|PAGE_NOTFOUND|BAD_TXN|INVALID|VERSION_MISMATCH)/.test(msg)) return e;
  return new RevfsError("CORRUPT", `the store's LMDB file is damaged (reading ${table}): ${msg}`);
}

/**
 * A commit to the store in `dir` that failed because the filesystem is full, as one
 * clear error. LMDB reports a short write as EIO, so the free space tells: under a
 * megabyte left. The transaction was aborted: the store is as before it.
 */
export function diskFull(e: unknown, dir: string): RevfsError | undefined {
  const msg = e instanceof Error ? e.message : String(e);
  if (!/Input\/output error|No space left|ENOSPC|EIO/.test(msg)) return undefined;
  const free = availableBytes(dir);
  if (free === undefined || free >= 1 << 20) return undefined;
  return new RevfsError("NO_SPACE", `no space left on the filesystem of store ${dir}; nothing was written`);
}
