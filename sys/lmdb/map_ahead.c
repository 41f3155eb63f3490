/*
 * LMDB's map read ahead on threads of their own. The request thread used to ask the disk
 * for what a reader reads next itself, and wait for it: finding a block's record in the
 * B-tree faults in its leaf page, a synchronous read of 4 KiB (2,080 such faults in a
 * cold read of 1 GiB, all on the request thread), and madvise(WILLNEED) of the records
 * ahead allocates their page-cache pages before it returns (11% of that thread's time).
 * Here helpers do both: they look the keys up in read transactions of their own and ask
 * the disk for the values' pages in address order. It is only advice: nothing waits for
 * it, and a job that could not be queued is simply not done. Mapping the pages as well
 * (MADV_POPULATE_READ), so the request thread takes no page fault on them, measured no
 * faster (1 GiB cold, medians of seven: 923 against 921 MB/s).
 *
 * A job names its environment; revfs_ahead_forget(env) drops that environment's queued
 * jobs and waits for running ones, so an environment is never closed under a helper.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "lmdb.h"

#define SLOTS 64
/*
 * Helpers: a lookup waits for its leaf page, so lookups run side by side to keep the
 * disk busy (one helper fell behind a 900 MB/s reader, which then waited for leaves).
 */
#define THREADS 4
#define PAGE 4096
/* Values asked for together this close in the map are asked for as one range, gap included. */
#define MERGE_GAP (256 << 10)
/* Smaller values sit in their key's leaf page, which the lookup brought in (LMDB moves a value
 * past half a page to overflow pages of its own); as sys/lmdb/read_ahead.ts `prefetch`. */
#define VALUE_MIN (PAGE / 2)

struct job {
	MDB_env *env;
	/* A range of the map (keys == NULL), or `n` keys of `key_len` bytes to find in `dbi`. */
	uintptr_t addr;
	size_t len;
	MDB_dbi dbi;
	unsigned n, key_len;
	unsigned char *keys;
};

struct range {
	uintptr_t from, to;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER, idle = PTHREAD_COND_INITIALIZER;
static struct job queue[SLOTS];
/* queue[taken % SLOTS] is the next job; added - taken are waiting. */
static unsigned added, taken;
/* What each helper is working on (NULL: nothing). */
static MDB_env *running[THREADS];
/* 0: not yet; 1: helpers running; -1: none could start. */
static int started;

static int by_start(const void *a, const void *b) {
	uintptr_t x = ((const struct range *)a)->from, y = ((const struct range *)b)->from;
	return x < y ? -1 : x > y;
}

static void advise(struct range *r, unsigned n) {
	qsort(r, n, sizeof *r, by_start);
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m > 0 && r[i].from <= r[m - 1].to + MERGE_GAP) {
			if (r[i].to > r[m - 1].to) r[m - 1].to = r[i].to;
		} else r[m++] = r[i];
	}
	for (unsigned i = 0; i < m; i++) {
		r[i].from &= ~(uintptr_t)(PAGE - 1);
		madvise((void *)r[i].from, r[i].to - r[i].from, MADV_WILLNEED);
	}
}

static void run(struct job *j) {
	if (!j->keys) {
		struct range r = {j->addr, j->addr + j->len};
		advise(&r, 1);
		return;
	}
	struct range *r = malloc(j->n * sizeof *r);
	MDB_txn *txn;
	if (!r || mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn) != MDB_SUCCESS) {
		free(r);
		return;
	}
	unsigned n = 0;
	for (unsigned i = 0; i < j->n; i++) {
		MDB_val key = {j->key_len, j->keys + (size_t)i * j->key_len}, val;
		if (mdb_get(txn, j->dbi, &key, &val) != MDB_SUCCESS || val.mv_size < VALUE_MIN) continue;
		r[n].from = (uintptr_t)val.mv_data;
		r[n].to = r[n].from + val.mv_size;
		n++;
	}
	mdb_txn_abort(txn);
	advise(r, n);
	free(r);
}

static void *helper(void *arg) {
	MDB_env **mine = arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (added == taken) pthread_cond_wait(&more, &lock);
		struct job j = queue[taken++ % SLOTS];
		*mine = j.env;
		pthread_mutex_unlock(&lock);
		if (j.env) run(&j);
		free(j.keys);
		pthread_mutex_lock(&lock);
		*mine = NULL;
		pthread_cond_broadcast(&idle);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

/* Starts the helpers (under the lock); how many started. */
static int start(void) {
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int n = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, helper, &running[i]) == 0) n++;
	}
	pthread_attr_destroy(&attr);
	return n;
}

/* Queues a job; 0 when queued, -1 when SLOTS jobs wait already or no helper could start. */
static int add(struct job j) {
	int rc = -1;
	pthread_mutex_lock(&lock);
	if (started == 0) started = start() > 0 ? 1 : -1;
	if (started == 1 && added - taken < SLOTS) {
		queue[added++ % SLOTS] = j;
		pthread_cond_signal(&more);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/* [addr, addr + len) of env's map asked of the disk. 0 if queued, else -1. */
int revfs_ahead_range(MDB_env *env, void *addr, size_t len) {
	struct job j = {env, (uintptr_t)addr, len, 0, 0, 0, NULL};
	return add(j);
}

/*
 * The values of `n` keys of `key_len` bytes (copied) in `dbi` found and asked of the
 * disk, the keys shared among the helpers. 0 if queued; -1 if not, or not all.
 */
int revfs_ahead_values(MDB_env *env, MDB_dbi dbi, const void *keys, unsigned n, unsigned key_len) {
	unsigned per = (n + THREADS - 1) / THREADS;
	for (unsigned from = 0; from < n; from += per) {
		unsigned count = n - from < per ? n - from : per;
		struct job j = {env, 0, 0, dbi, count, key_len, malloc((size_t)count * key_len)};
		if (!j.keys) return -1;
		memcpy(j.keys, (const unsigned char *)keys + (size_t)from * key_len, (size_t)count * key_len);
		if (add(j) != 0) {
			free(j.keys);
			return -1;
		}
	}
	return 0;
}

/* No job of env's is queued or running once this returns (call it before closing env). */
void revfs_ahead_forget(MDB_env *env) {
	pthread_mutex_lock(&lock);
	for (unsigned i = taken; i != added; i++) {
		if (queue[i % SLOTS].env == env) queue[i % SLOTS].env = NULL;
	}
	for (int i = 0; i < THREADS; i++) {
		while (running[i] == env) pthread_cond_wait(&idle, &lock);
	}
	pthread_mutex_unlock(&lock);
}
