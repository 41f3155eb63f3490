/**
 * The read transaction that reads outside a write go through. It is let go (reset) once
 * the code that used it yields (a microtask), and renewed by the next read: a snapshot
 * held longer keeps LMDB from reusing any page freed after it, and the file grows with
 * every write (seen: the loader thread's snapshot, held between its rare loads, made a
 * history of small edits 87 MiB where 3.8 sufficed). A range still open on it when it
 * must move on keeps it, stale, until the range ends.
 */
import * as lmdb from "../../sys/lmdb/mod.ts";

type Txn = Deno.PointerValue;

class Snapshot {
  ranges = 0;
  stale = false;
  /** Reset: renewed before its next use. */
  released = false;
  releaseQueued = false;
  constructor(readonly txn: Txn) {}
}

export class ReadSnapshot {
  private current?: Snapshot;

  constructor(private readonly env: lmdb.Env) {}

  /** The transaction to read in now: begun or renewed if need be, let go after this task. */
  txn(): Txn {
    return this.take().txn;
  }

  /** The transaction for a range, held until `done` even if later reads move on. */
  hold(): { txn: Txn; done(): void } {
    const s = this.take();
    s.ranges++;
    return {
      txn: s.txn,
      done: () => {
        if (--s.ranges === 0 && s.stale) lmdb.abort(s.txn);
      },
    };
  }

  /** Lets the current snapshot go now (after a commit, the next read sees it). */
  release(): void {
    if (this.current) this.let(this.current);
  }

  close(): void {
    // A reset transaction is aborted as any other (mdb_txn_abort frees it).
    if (this.current && this.current.ranges === 0) lmdb.abort(this.current.txn);
    this.current = undefined;
  }

  private take(): Snapshot {
    let s = this.current;
    if (!s) {
      s = this.current = new Snapshot(this.env.begin(true));
    } else if (s.released) {
      lmdb.renew(s.txn);
      s.released = false;
    }
    if (!s.releaseQueued) {
      s.releaseQueued = true;
      const taken = s;
      queueMicrotask(() => this.let(taken));
    }
    return s;
  }

  /** Resets a snapshot if no range reads it, else leaves it to its ranges. */
  private let(s: Snapshot): void {
    s.releaseQueued = false;
    if (this.current !== s || s.released) return;
    if (s.ranges > 0) {
      s.stale = true;
      this.current = undefined;
      return;
    }
    lmdb.reset(s.txn);
    s.released = true;
  }
}
