/*
 * Decodes a batch of zstd frames on two threads: the caller's and one helper thread.
 * revfs's request thread calls zp_decode with a read's compressed blocks and returns
 * when all are decoded; the helper takes frames from the same batch meanwhile. A Deno
 * worker cannot do this: a message between threads costs about a millisecond here
 * (docs/BENCHMARKS.md), ten blocks' decoding, and this needs none.
 *
 * The helper spins briefly after a batch, then sleeps on a futex; a batch that comes
 * while it sleeps starts on the caller's thread alone. libzstd is opened at zp_start,
 * so building this needs no zstd headers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* One frame to decode; the layout zstd_pool.ts writes (eight 64-bit words). */
struct zp_job {
  const void *src;
  uint64_t src_len;
  const void *dict; /* NULL: no dictionary */
  uint64_t dict_len;
  void *dst;
  uint64_t dst_cap;
  uint64_t result; /* the content size when it decoded to exactly that, else ZP_FAILED */
  uint64_t unused;
};

#define ZP_FAILED UINT64_MAX
/* How long the helper waits for the next batch before it sleeps: longer spins took the
   core a reader and the kernel need (1 ms: 1 GiB read with the store's file in memory,
   0.94 -> 1.12-1.14 s). */
#define SPIN_NS 20000

typedef size_t (*decompress_fn)(void *, void *, size_t, const void *, size_t);
typedef size_t (*decompress_dict_fn)(void *, void *, size_t, const void *, size_t, const void *, size_t);
typedef unsigned (*is_error_fn)(size_t);
typedef unsigned long long (*content_size_fn)(const void *, size_t);
typedef void *(*create_dctx_fn)(void);

static decompress_fn zstd_decompress;
static decompress_dict_fn zstd_decompress_dict;
static is_error_fn zstd_is_error;
static content_size_fn zstd_content_size;
static create_dctx_fn zstd_create_dctx;

static struct zp_job *batch;
/*
 * The batch's frames are claimed through one word: its size (bits 32-47) and the next
 * frame to take (bits 0-31). A thread reads `batch` only after claiming a frame of it,
 * and a new batch is set only once every frame of the last one is done, so the claim
 * pins the batch.
 */
static _Atomic uint64_t claims;
static _Atomic uint32_t jobs_done;
/* Bumped for each batch; the helper sleeps on it. */
static _Atomic uint32_t generation;
static void *caller_dctx;
static int started;
/* One batch at a time: a second caller (another Deno worker of the process) waits. */
static pthread_mutex_t one_caller = PTHREAD_MUTEX_INITIALIZER;

static void futex_wait(_Atomic uint32_t *addr, uint32_t value) {
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr) {
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void decode(void *dctx, struct zp_job *j) {
  unsigned long long expected = zstd_content_size(j->src, j->src_len);
  if (expected > j->dst_cap) { /* also unknown (-1) and error (-2) */
    j->result = ZP_FAILED;
    return;
  }
  size_t n = j->dict ? zstd_decompress_dict(dctx, j->dst, j->dst_cap, j->src, j->src_len, j->dict, j->dict_len)
                     : zstd_decompress(dctx, j->dst, j->dst_cap, j->src, j->src_len);
  j->result = zstd_is_error(n) || n != expected ? ZP_FAILED : n;
}

/* Takes frames from the current batch until none is left. */
static void take_jobs(void *dctx) {
  uint64_t c = atomic_load_explicit(&claims, memory_order_acquire);
  for (;;) {
    if ((c & 0xffffffffu) >= (c >> 32)) return;
    if (!atomic_compare_exchange_weak_explicit(&claims, &c, c + 1, memory_order_acquire, memory_order_acquire)) {
      continue;
    }
    decode(dctx, &batch[c & 0xffffffffu]);
    atomic_fetch_add_explicit(&jobs_done, 1, memory_order_release);
    c = atomic_load_explicit(&claims, memory_order_acquire);
  }
}

static void *helper(void *arg) {
  void *dctx = arg;
  uint32_t seen = 0;
  for (;;) {
    uint64_t until = now_ns() + SPIN_NS;
    uint32_t g;
    while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
      if (now_ns() > until) futex_wait(&generation, seen);
    }
    seen = g;
    take_jobs(dctx);
  }
  return NULL;
}

static int start(void) {
  if (started) return 0;
  void *lib = dlopen("libzstd.so.1", RTLD_NOW);
  if (!lib) return -1;
  zstd_decompress = (decompress_fn)dlsym(lib, "ZSTD_decompressDCtx");
  zstd_decompress_dict = (decompress_dict_fn)dlsym(lib, "ZSTD_decompress_usingDict");
  zstd_is_error = (is_error_fn)dlsym(lib, "ZSTD_isError");
  zstd_content_size = (content_size_fn)dlsym(lib, "ZSTD_getFrameContentSize");
  zstd_create_dctx = (create_dctx_fn)dlsym(lib, "ZSTD_createDCtx");
  if (!zstd_decompress || !zstd_decompress_dict || !zstd_is_error || !zstd_content_size || !zstd_create_dctx) {
    return -2;
  }
  caller_dctx = zstd_create_dctx();
  void *helper_dctx = zstd_create_dctx();
  if (!caller_dctx || !helper_dctx) return -3;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, helper, helper_dctx) != 0) return -4;
  started = 1;
  return 0;
}

/* Opens libzstd and starts the helper thread; 0 when ready (again: 0 at once). */
int zp_start(void) {
  pthread_mutex_lock(&one_caller);
  int rc = start();
  pthread_mutex_unlock(&one_caller);
  return rc;
}

/*
 * Decodes `n` frames (at most 65,535), sharing them with the helper; returns when every
 * one is done.
 */
void zp_decode(struct zp_job *jobs, uint32_t n) {
  pthread_mutex_lock(&one_caller);
  batch = jobs;
  n &= 0xffff;
  atomic_store_explicit(&jobs_done, 0, memory_order_relaxed);
  atomic_store_explicit(&claims, (uint64_t)n << 32, memory_order_release);
  atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  futex_wake(&generation);
  take_jobs(caller_dctx);
  while (atomic_load_explicit(&jobs_done, memory_order_acquire) != n) {
  }
  pthread_mutex_unlock(&one_caller);
}
