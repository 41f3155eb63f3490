/*
 * Reads that copy a small value out in the call that finds it. Through Deno FFI, reading
 * an MDB_val's data pointer and copying from it were two calls into Deno's runtime per
 * value, a fifth of a cold walk's time in the store (docs/BENCHMARKS.md); a memcpy here
 * into a buffer the caller owns costs neither. A value larger than `cap` is not copied:
 * the caller reads it through the MDB_val as before.
 */
#include <string.h>
#include "lmdb.h"

int revfs_get_copy(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val, void *out, unsigned int cap) {
	int rc = mdb_get(txn, dbi, key, val);
	if (rc == MDB_SUCCESS && val->mv_size <= cap) memcpy(out, val->mv_data, val->mv_size);
	return rc;
}

/* mdb_cursor_get, then the key and the value after it copied into `out` when both fit. */
int revfs_cursor_get_copy(MDB_cursor *cursor, MDB_val *key, MDB_val *val, MDB_cursor_op op, void *out, unsigned int cap) {
	int rc = mdb_cursor_get(cursor, key, val, op);
	if (rc == MDB_SUCCESS && key->mv_size + val->mv_size <= cap) {
		memcpy(out, key->mv_data, key->mv_size);
		memcpy((char *)out + key->mv_size, val->mv_data, val->mv_size);
	}
	return rc;
}
