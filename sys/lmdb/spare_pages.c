/*
 * LMDB with its commit trimmed of the pages it keeps. When a write transaction ends,
 * LMDB puts every single page it dirtied on a list for later transactions to reuse,
 * and never gives one back: after a writeout that dirtied 18,000 pages, 70 MiB of heap
 * stayed held for good (docs/BENCHMARKS.md, "LMDB's spare pages"). revfs_txn_commit
 * commits, then frees all but SPARE_PAGES_KEPT of them, enough for the small
 * transactions of an fsync to reuse. The list is the writer's: it is trimmed under the
 * writer's lock (a write transaction begun and aborted), as another thread may write.
 *
 * The list lives in LMDB's private environment struct, so this file compiles mdb.c
 * itself; sys/lmdb/build.sh builds it in mdb.c's place.
 */
#include "mdb.c"

#define SPARE_PAGES_KEPT 256

static void free_spare_pages(MDB_env *env) {
	MDB_page *last_kept = env->me_dpages;
	for (int i = 1; last_kept && i < SPARE_PAGES_KEPT; i++) last_kept = last_kept->mp_next;
	if (!last_kept) return;
	MDB_page *p = last_kept->mp_next;
	last_kept->mp_next = NULL;
	while (p) {
		MDB_page *next = p->mp_next;
		free(p);
		p = next;
	}
}

int revfs_txn_commit(MDB_txn *txn) {
	MDB_env *env = txn->mt_env;
	int wrote = !(txn->mt_flags & MDB_TXN_RDONLY);
	int rc = mdb_txn_commit(txn);
	MDB_txn *writer;
	if (wrote && mdb_txn_begin(env, NULL, 0, &writer) == MDB_SUCCESS) {
		free_spare_pages(env);
		mdb_txn_abort(writer);
	}
	return rc;
}

/* How many spare pages LMDB holds now; -1 when the writer's lock cannot be had. */
long revfs_env_spare_pages(MDB_env *env) {
	MDB_txn *writer;
	if (mdb_txn_begin(env, NULL, 0, &writer) != MDB_SUCCESS) return -1;
	long n = 0;
	for (MDB_page *p = env->me_dpages; p; p = p->mp_next) n++;
	mdb_txn_abort(writer);
	return n;
}
