/**
 * Block loads off the request path. Worker threads, each with its own read view of the
 * store (lmdb-js shares one LMDB environment per process), read a block's record, decode
 * it (a delta chain too) and verify it against its hash, then hand the buffer back
 * (transferred, not copied). The JS thread that owns the FUSE session meanwhile answers other
 * requests: a long history decode, or a page fault into a cold store file, holds up only
 * the reads that need that block.
 *
 * This is a plain pool. Sharing one load between readers of the same block, and keeping
 * what was loaded, is the page cache's job (fs/page_cache.ts).
 */
import { type BlockHash, type ErrorCode, RevfsError } from "../mod.ts";

/** What the main thread sends a loader thread. */
export type LoaderRequest =
  | { kind: "open"; storeDir: string; verifyReads: boolean }
  /** `into`: a block-sized buffer to decode into (transferred; it comes back with the block). */
  | { kind: "load"; id: number; hash: BlockHash; into?: ArrayBuffer }
  | { kind: "close" };

/** What a loader thread answers. */
export type LoaderReply =
  | { kind: "ready" }
  /** The block is the first `length` bytes of `data`. */
  | { kind: "loaded"; id: number; data: ArrayBuffer; length: number }
  | { kind: "failed"; id: number; code?: ErrorCode; message: string }
  | { kind: "open-failed"; message: string }
  | { kind: "closed" };

/**
 * A core is left for the JS thread, which sends every reply. Measured by hand on 2
 * cores, a cold read of a revision's 1 GiB file: 597-599 MB/s with one thread, 504-525
 * with two.
 */
export function defaultLoaderThreads(): number {
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency - 1));
}

interface Pending {
  resolve: (data: Uint8Array) => void;
  reject: (e: unknown) => void;
}

class LoaderThread {
  readonly pending = new Map<number, Pending>();

  constructor(readonly worker: Worker) {}
}

export class BlockLoader {
  private nextId = 1;
  private closed = false;

  private constructor(private readonly threads: LoaderThread[]) {
    for (const t of threads) {
      t.worker.onmessage = (ev: MessageEvent<LoaderReply>) => this.answer(t, ev.data);
      t.worker.onerror = (ev) => {
        ev.preventDefault();
        this.lose(t, new RevfsError("CORRUPT", `a block loader thread failed: ${ev.message}`));
      };
    }
  }

  /** Starts `threads` loader threads on the store at `storeDir`; each opens it for reading. */
  static async start(
    storeDir: string,
    { verifyReads = false, threads = defaultLoaderThreads() } = {},
  ): Promise<BlockLoader> {
    const started: Worker[] = [];
    try {
      for (let i = 0; i < threads; i++) {
        const worker = new Worker(new URL("./block_loader_worker.ts", import.meta.url), { type: "module" });
        started.push(worker);
      }
      await Promise.all(started.map((w) => opened(w, { kind: "open", storeDir, verifyReads })));
    } catch (e) {
      for (const w of started) w.terminate();
      throw e;
    }
    return new BlockLoader(started.map((w) => new LoaderThread(w)));
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
      const req: LoaderRequest = { kind: "load", id, hash, into };
      t.worker.postMessage(req, into ? [into] : []);
    });
  }

  /** False once every thread has failed: the cache then loads on its own thread. */
  get available(): boolean {
    return !this.closed && this.threads.length > 0;
  }

  /** Lets each thread close its store, then stops it. Loads still pending fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => closeThread(t.worker)));
    for (const t of this.threads) this.lose(t, new RevfsError("INVALID", "the block loader was closed"));
  }

  private answer(t: LoaderThread, m: LoaderReply): void {
    if (m.kind !== "loaded" && m.kind !== "failed") return;
    const p = t.pending.get(m.id);
    if (!p) return;
    t.pending.delete(m.id);
    if (m.kind === "loaded") p.resolve(new Uint8Array(m.data, 0, m.length));
    else p.reject(m.code ? new RevfsError(m.code, m.message) : new Error(m.message));
  }

  /** A thread that died: its loads fail (EIO), and it gets no more. */
  private lose(t: LoaderThread, e: RevfsError): void {
    for (const p of t.pending.values()) p.reject(e);
    t.pending.clear();
    const i = this.threads.indexOf(t);
    if (i >= 0) this.threads.splice(i, 1);
    t.worker.terminate();
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
