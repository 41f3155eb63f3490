/*
 * One LMDB environment per data file per process, shared by the process's threads
 * (the mount's loader thread reads through the main thread's environment). LMDB's
 * locks belong to the process: a second environment on the same file would drop them
 * when it closed (lmdb.h, "Caveats"). The registry lives here, in C, because threads
 * in Deno do not share JavaScript memory. The caller holds the lock around
 * find/add/release and the opening or closing that goes with them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "lmdb.h"

struct shared_env {
	char *path;
	MDB_env *env;
	int users;
	/* The map is read ahead by revfs, not the kernel (sys/lmdb/lmdb.ts, readAheadMode). */
	int own_readahead;
	struct shared_env *next;
};

static struct shared_env *envs;
static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;

void revfs_envs_lock(void) { pthread_mutex_lock(&envs_lock); }

void revfs_envs_unlock(void) { pthread_mutex_unlock(&envs_lock); }

/* The environment open on `path`, with one more user; NULL when there is none. */
MDB_env *revfs_envs_find(const char *path) {
	for (struct shared_env *e = envs; e; e = e->next) {
		if (strcmp(e->path, path) == 0) {
			e->users++;
			return e->env;
		}
	}
	return NULL;
}

/* Registers a newly opened environment with one user; 0 when out of memory. */
int revfs_envs_add(const char *path, MDB_env *env) {
	struct shared_env *e = malloc(sizeof *e);
	if (!e) return 0;
	e->path = strdup(path);
	if (!e->path) {
		free(e);
		return 0;
	}
	e->env = env;
	e->users = 1;
	e->own_readahead = 0;
	e->next = envs;
	envs = e;
	return 1;
}

/* One user fewer; 1 when that was the last one, and the caller closes the environment. */
int revfs_envs_release(MDB_env *env) {
	for (struct shared_env **p = &envs; *p; p = &(*p)->next) {
		struct shared_env *e = *p;
		if (e->env != env) continue;
		if (--e->users > 0) return 0;
		*p = e->next;
		free(e->path);
		free(e);
		return 1;
	}
	return 1;
}

static struct shared_env *entry_of(MDB_env *env) {
	for (struct shared_env *e = envs; e; e = e->next) {
		if (e->env == env) return e;
	}
	return NULL;
}

int revfs_envs_own_readahead(MDB_env *env) {
	struct shared_env *e = entry_of(env);
	return e ? e->own_readahead : 0;
}

void revfs_envs_set_own_readahead(MDB_env *env, int own) {
	struct shared_env *e = entry_of(env);
	if (e) e->own_readahead = own;
}
