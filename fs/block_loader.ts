/**
 * Block loads off the request path. Worker threads, each with its own read view of the
 * store (one LMDB environment per process, shared: sys/lmdb/shared_envs.c), read a block's record, decode
 * it (a delta chain too) and verify it against its hash, then hand the buffer back
 * (transferred, not copied). The JS thread that owns the FUSE session meanwhile answers other
 * requests: a long history decode, or a page fault into a cold store file, holds up only
 * the reads that need that block.
 *
 * This is a plain pool. Sharing one load between readers of the same block, and keeping
 * what was loaded, is the page cache's job (fs/page_cache.ts).
 */
import { type BlockHash, type ErrorCode, RevfsError } from "../mod.ts";

/** One block to load; `into`: a block-sized buffer to decode into (transferred; it comes back with the block). */
export interface BlockLoad {
  id: number;
  hash: BlockHash;
  into?: ArrayBuffer;
}

/** A load's outcome: the block is the first `length` bytes of `data`; `records`: how many were decoded for it. */
export type LoadResult =
  | { id: number; ok: true; data: ArrayBuffer; length: number; records: number }
  | { id: number; ok: false; code?: ErrorCode; message: string };

/**
 * What the main thread sends a loader thread. Loads go in batches (those asked for in one
 * turn of the event loop, as a read's blocks are): a message each way costs about as much
 * as decoding a block (50 us of CPU a block, measured with 16 to a batch against 1).
 */
export type LoaderRequest =
  | { kind: "open"; storeDir: string; verifyReads: boolean }
  | { kind: "load"; loads: BlockLoad[] }
  | { kind: "close" };

/** What a loader thread answers: one "loaded" for each "load", in its order. */
export type LoaderReply =
  | { kind: "ready" }
  | { kind: "loaded"; results: LoadResult[] }
  | { kind: "open-failed"; message: string }
  | { kind: "closed" };

/**
 * One thread at first: a core is left for the JS thread, which sends every reply.
 * Measured by hand on 2 cores, a cold read of a revision's 1 GiB file: 597-599 MB/s with
 * one thread, 504-525 with two.
 */
const FIRST_THREADS = 1;

/**
 * The most threads once loads decode delta chains (history): then decoding, not the JS
 * thread, is what a read waits for. On 2 cores, the oldest of 50 versions of a 64 MiB
 * file (8,467 records) read cold in 316 ms with two threads against 405 with one
 * (medians of five, alternating).
 */
export function defaultLoaderThreads(): number {
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency));
}

interface Pending {
  resolve: (data: Uint8Array) => void;
  reject: (e: unknown) => void;
}

class LoaderThread {
  readonly pending = new Map<number, Pending>();
  /** Loads not sent yet: they go together at the end of this turn. */
  queued: BlockLoad[] = [];

  constructor(readonly worker: Worker) {}
}

export class BlockLoader {
  private nextId = 1;
  private closed = false;
  private flushing = false;
  private readonly threads: LoaderThread[] = [];
  /** A thread being added (see `answer`). */
  private growing?: Promise<void>;
  /** A thread started ahead of need (`prepare`), not given loads until one decodes a chain. */
  private spare?: Promise<Worker | undefined>;

  private constructor(
    private readonly open: LoaderRequest,
    private maxThreads: number,
    started: Worker[],
  ) {
    for (const w of started) this.adopt(w);
  }

  /**
   * Starts loader threads on the store at `storeDir` (each opens it for reading): `threads`
   * at once, more up to `maxThreads` when loads turn out to decode delta chains.
   */
  static async start(
    storeDir: string,
    { verifyReads = false, threads = FIRST_THREADS, maxThreads = defaultLoaderThreads() } = {},
  ): Promise<BlockLoader> {
    const open: LoaderRequest = { kind: "open", storeDir, verifyReads };
    const starts = await Promise.allSettled(Array.from({ length: threads }, () => startThread(open)));
    const started = starts.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
    const failed = starts.find((r) => r.status === "rejected");
    if (failed) {
      for (const w of started) w.terminate();
      throw failed.reason;
    }
    return new BlockLoader(open, Math.max(threads, maxThreads), started);
  }

  /** Threads given loads, or being added to them (a spare from `prepare` is not counted). */
  get threadCount(): number {
    return this.threads.length + (this.growing ? 1 : 0);
  }

  /**
   * Starts the thread that reads of history will add, without giving it loads yet: a
   * store with history calls this at a quiet moment, so the first read of an old
   * revision does not pay for the start (an isolate made on the JS thread, and the
   * store opened, 150-200 ms of CPU that competed with the decoding on 2 cores).
   */
  prepare(): void {
    if (this.spare || this.growing || this.closed || this.threads.length >= this.maxThreads) return;
    this.spare = startThread(this.open).catch(() => undefined);
  }

  private adopt(worker: Worker): void {
    const t = new LoaderThread(worker);
    worker.onmessage = (ev: MessageEvent<LoaderReply>) => this.answer(t, ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault();
      this.lose(t, new RevfsError("CORRUPT", `a block loader thread failed: ${ev.message}`));
    };
    this.threads.push(t);
  }

  /** Adds a thread, unless one is being added or there are enough; one that fails to start is not tried again. */
  private grow(): void {
    if (this.growing || this.closed || this.threads.length >= this.maxThreads) return;
    const spare = this.spare;
    this.spare = undefined;
    const started = spare ? spare.then((w) => w ?? startThread(this.open)) : startThread(this.open);
    this.growing = started.then(
      (w) => this.closed ? closeThread(w) : this.adopt(w),
      () => void (this.maxThreads = this.threads.length),
    ).finally(() => this.growing = undefined);
  }

  /**
   * A block's verified bytes, loaded on the least busy thread; into `into` (handed over:
   * the caller must not touch it again) when the block is decoded there.
   */
  load(hash: BlockHash, into?: ArrayBuffer): Promise<Uint8Array> {
    if (this.closed || this.threads.length === 0) {
      return Promise.reject(new RevfsError("INVALID", "the block loader is closed"));
    }
    let t = this.threads[0];
    for (const c of this.threads) if (c.pending.size < t.pending.size) t = c;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      t.pending.set(id, { resolve, reject });
      t.queued.push({ id, hash, into });
      if (!this.flushing) {
        this.flushing = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  /** Sends each thread the loads queued for it, in one message. */
  private flush(): void {
    this.flushing = false;
    for (const t of this.threads) {
      if (t.queued.length === 0) continue;
      const loads = t.queued;
      t.queued = [];
      const req: LoaderRequest = { kind: "load", loads };
      t.worker.postMessage(req, loads.flatMap((l) => l.into ? [l.into] : []));
    }
  }

  /** False once every thread has failed: the cache then loads on its own thread. */
  get available(): boolean {
    return !this.closed && this.threads.length > 0;
  }

  /** Lets each thread close its store, then stops it. Loads still pending fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.growing;
    const spare = await this.spare;
    this.spare = undefined;
    if (spare) await closeThread(spare);
    await Promise.all(this.threads.map((t) => closeThread(t.worker)));
    for (const t of this.threads) this.lose(t, new RevfsError("INVALID", "the block loader was closed"));
  }

  private answer(t: LoaderThread, m: LoaderReply): void {
    if (m.kind !== "loaded") return;
    for (const r of m.results) {
      const p = t.pending.get(r.id);
      if (!p) continue;
      t.pending.delete(r.id);
      if (r.ok) {
        // A chain was decoded: history is being read, and decoding is the work to share.
        if (r.records > 1) this.grow();
        p.resolve(new Uint8Array(r.data, 0, r.length));
      } else p.reject(r.code ? new RevfsError(r.code, r.message) : new Error(r.message));
    }
  }

  /** A thread that died: its loads fail (EIO), and it gets no more. */
  private lose(t: LoaderThread, e: RevfsError): void {
    for (const p of t.pending.values()) p.reject(e);
    t.pending.clear();
    t.queued = [];
    const i = this.threads.indexOf(t);
    if (i >= 0) this.threads.splice(i, 1);
    t.worker.terminate();
  }
}

/** A loader thread that has opened the store. */
async function startThread(open: LoaderRequest): Promise<Worker> {
  const worker = new Worker(new URL("./block_loader_worker.ts", import.meta.url), { type: "module" });
  try {
    await opened(worker, open);
    return worker;
  } catch (e) {
    worker.terminate();
    throw e;
  }
}

function opened(w: Worker, req: LoaderRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    w.onmessage = (ev: MessageEvent<LoaderReply>) => {
      if (ev.data.kind === "ready") resolve();
      else if (ev.data.kind === "open-failed") reject(new RevfsError("INVALID", ev.data.message));
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      reject(new RevfsError("INVALID", `a block loader thread did not start: ${ev.message}`));
    };
    w.postMessage(req);
  });
}

/** Asks a thread to close its store; stops it after that, or after 5 s whatever it does. */
function closeThread(w: Worker): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, 5000);
    function done() {
      clearTimeout(timer);
      w.terminate();
      resolve();
    }
    w.onmessage = (ev: MessageEvent<LoaderReply>) => {
      if (ev.data.kind === "closed") done();
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      done();
    };
    const req: LoaderRequest = { kind: "close" };
    w.postMessage(req);
  });
}
