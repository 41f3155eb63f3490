/*
 * Decodes zstd frames on two threads: the caller's and one helper thread. Frames are
 * queued in order (zp_push) and taken from the front by whichever thread is free; a
 * caller that waits for its frames (zp_wait) takes frames from the front itself until
 * its own are all taken. revfs's request thread queues a read's compressed blocks and
 * waits for them at once (zp_decode), or queues the next reads' blocks of a reader in
 * file order and waits for them only when those reads come: the helper decodes them
 * meanwhile, while the request thread answers. A Deno worker cannot do this: a message
 * between threads costs about a millisecond here (docs/BENCHMARKS.md), ten blocks'
 * decoding, and this needs none.
 *
 * The helper spins briefly after the queue empties, then sleeps on a futex. libzstd is
 * opened at zp_start, so building this needs no zstd headers.
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
  _Atomic uint64_t done; /* 0 until `result` is set */
};

#define ZP_FAILED UINT64_MAX
/* How long the helper waits for more frames before it sleeps: longer spins took the
   core a reader and the kernel need (1 ms: 1 GiB read with the store's file in memory,
   0.94 -> 1.12-1.14 s). */
#define SPIN_NS 20000
/* Frames queued at most; a caller that would queue more first decodes from the front. */
#define QUEUE 4096

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

/*
 * The queue: frames [head, tail) wait, slot i % QUEUE holding frame i. A thread takes
 * the front frame by moving `head` past it (compare-and-swap); only a caller holding
 * `callers` adds frames, and only to slots no frame waits in.
 */
static struct zp_job *queue[QUEUE];
static _Atomic uint64_t head;
static _Atomic uint64_t tail;
/* Bumped when frames are queued; the helper sleeps on it. */
static _Atomic uint32_t generation;
static void *caller_dctx;
static int started;
/* One caller at a time (another Deno worker of the process waits). */
static pthread_mutex_t callers = PTHREAD_MUTEX_INITIALIZER;

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
  uint64_t result = ZP_FAILED;
  if (expected <= j->dst_cap) { /* also rules out unknown (-1) and error (-2) */
    size_t n = j->dict ? zstd_decompress_dict(dctx, j->dst, j->dst_cap, j->src, j->src_len, j->dict, j->dict_len)
                       : zstd_decompress(dctx, j->dst, j->dst_cap, j->src, j->src_len);
    if (!zstd_is_error(n) && n == expected) result = n;
  }
  j->result = result;
  atomic_store_explicit(&j->done, 1, memory_order_release);
}

/* Takes the front frame and decodes it; 0 when none waits. */
static int take_one(void *dctx) {
  uint64_t h = atomic_load_explicit(&head, memory_order_acquire);
  for (;;) {
    if (h >= atomic_load_explicit(&tail, memory_order_acquire)) return 0;
    struct zp_job *j = queue[h % QUEUE];
    /* Read before the claim: once `head` moves past h a caller may fill the slot again. */
    if (atomic_compare_exchange_weak_explicit(&head, &h, h + 1, memory_order_acq_rel, memory_order_acquire)) {
      decode(dctx, j);
      return 1;
    }
  }
}

static void *helper(void *arg) {
  void *dctx = arg;
  for (;;) {
    uint32_t g = atomic_load_explicit(&generation, memory_order_acquire);
    if (take_one(dctx)) continue;
    uint64_t until = now_ns() + SPIN_NS;
    while (atomic_load_explicit(&generation, memory_order_acquire) == g) {
      if (now_ns() > until) futex_wait(&generation, g);
    }
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
  pthread_mutex_lock(&callers);
  int rc = start();
  pthread_mutex_unlock(&callers);
  return rc;
}

/* Waits until every one of the `n` frames at `jobs` is done, decoding frames from the front meanwhile. */
static void wait_for(struct zp_job *jobs, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    while (!atomic_load_explicit(&jobs[i].done, memory_order_acquire)) {
      /* Frames queued before these are taken first; none left: the helper has the last. */
      take_one(caller_dctx);
    }
  }
}

/*
 * Queues `n` frames and returns at once; the helper starts on them. `jobs`, their
 * frames and their targets must stay as they are until zp_wait(jobs, n) returns.
 */
void zp_push(struct zp_job *jobs, uint32_t n) {
  pthread_mutex_lock(&callers);
  for (uint32_t i = 0; i < n; i++) {
    atomic_store_explicit(&jobs[i].done, 0, memory_order_relaxed);
    /* Full: make room by decoding from the front. */
    while (atomic_load_explicit(&tail, memory_order_relaxed) - atomic_load_explicit(&head, memory_order_acquire) >=
           QUEUE) {
      take_one(caller_dctx);
    }
    uint64_t t = atomic_load_explicit(&tail, memory_order_relaxed);
    queue[t % QUEUE] = &jobs[i];
    atomic_store_explicit(&tail, t + 1, memory_order_release);
  }
  atomic_fetch_add_explicit(&generation, 1, memory_order_release);
  futex_wake(&generation);
  pthread_mutex_unlock(&callers);
}

/* Returns once the `n` frames at `jobs` (queued by zp_push) are done. */
void zp_wait(struct zp_job *jobs, uint32_t n) {
  pthread_mutex_lock(&callers);
  wait_for(jobs, n);
  pthread_mutex_unlock(&callers);
}

/* Decodes `n` frames, sharing them with the helper; returns when every one is done. */
void zp_decode(struct zp_job *jobs, uint32_t n) {
  zp_push(jobs, n);
  zp_wait(jobs, n);
}
