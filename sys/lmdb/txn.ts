/**
 * What is done inside a transaction: begin is the environment's (env.ts); commit,
 * reads, writes and ranges are here. Every function takes the transaction it runs in.
 */
import {
  check,
  cursorCopy,
  cursorKey,
  FIRST,
  getCopy,
  key,
  lib,
  locate,
  NEXT,
  NOTFOUND,
  out,
  outView,
  type Ptr,
  SET_RANGE,
  setKey,
  value,
} from "./ffi.ts";

/** mdb_put's flag for a key greater than every key in the table (written without a search). */
export const APPEND = 0x20000;

/** This LMDB's answer to a commit that changed nothing: the transaction ended, as a commit's does. */
const EMPTY_TXN = -30774;

/** Commits, and frees the pages LMDB would keep for reuse past a few (sys/lmdb/spare_pages.c). */
export function commit(txn: Ptr): void {
  const rc = lib().revfs_txn_commit(txn);
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

/** A copy of the value of `k` (a view of LMDB's own bytes: Env.view, which reads ahead). */
export function get(txn: Ptr, dbi: number, k: Uint8Array): Uint8Array | undefined {
  return getCopy(txn, dbi, k);
}

export function has(txn: Ptr, dbi: number, k: Uint8Array): boolean {
  return locate(txn, dbi, k);
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
  try {
    let op = FIRST;
    if (start && start.length > 0) {
      setKey(start);
      cursorKey.words[0] = key.words[0];
      cursorKey.words[1] = key.words[1];
      op = SET_RANGE;
    }
    for (;;) {
      const entry = cursorCopy(cursor, op, keysOnly);
      if (entry === undefined) return;
      op = NEXT;
      if (end && compare(entry[0], end) >= 0) return;
      yield entry;
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
