/**
 * The narrow record interface every store module speaks: get/put/delete records in
 * named tables, inside one atomic write transaction. LMDB implements it here
 * (store/records/lmdb_backend.ts); an object-store backend for immutable blocks could later
 * implement it too, with LMDB as the local cache.
 */

/** Tables of a store; FORMAT.md documents each one's keys and values. */
export type Table =
  | "meta"
  | "blocks"
  | "pages"
  | "revs"
  | "tags"
  | "inodes"
  | "dirents"
  | "overlay"
  | "dirty"
  | "dicts"
  | "chains"
  | "fresh";

export const TABLES: readonly Table[] = [
  "meta",
  "blocks",
  "pages",
  "revs",
  "tags",
  "inodes",
  "dirents",
  "overlay",
  "dirty",
  "dicts",
  "chains",
  "fresh",
];

export interface KeyRange {
  /** Inclusive. */
  start?: Uint8Array;
  /** Exclusive. */
  end?: Uint8Array;
}

export interface RecordStore {
  get(table: Table, key: Uint8Array): Uint8Array | undefined;
  /**
   * `get` without a copy: the view is valid only until the next call into the record
   * store (read it, copy what must stay, let it go). For hot paths that decode at once.
   */
  peek(table: Table, key: Uint8Array): Uint8Array | undefined;
  /**
   * For a reader that knows several values it reads next (the records of a batch's
   * delta chains): their pages asked of the disk now, without waiting, so they are read
   * together rather than one page fault at a time. Returns them as `peek` would, not
   * read yet, valid until the next write or until the caller yields. Undefined, and
   * nothing done, when the store leaves reading ahead to the kernel.
   */
  prefetch(table: Table, keys: readonly Uint8Array[]): (Uint8Array | undefined)[] | undefined;
  /**
   * `prefetch` for a thread that must not wait even for finding the values (a B-tree
   * leaf not in memory is a read from disk): they are found and asked for on a helper
   * thread. A value that refers to a pack is not followed into it. False, and nothing
   * done, when there is no helper or it is busy.
   */
  askAhead(table: Table, keys: readonly Uint8Array[]): boolean;
  /**
   * `peek` of several values at once (a read's blocks, decoded together): valid
   * together until the next write or until the caller yields, their pages asked of the
   * disk together where the store reads ahead itself, unless `asked` (already, by
   * `askAhead`: asked again here, they cost the caller a system call each).
   */
  peekAll(table: Table, keys: readonly Uint8Array[], asked?: boolean): (Uint8Array | undefined)[];
  /**
   * Keeps the views read since the caller last yielded (outside a write) valid across
   * yields until the function it returns is called: for work on another thread that
   * reads them after this task. No write begins while they are held: before one, `end`
   * is called, and must be done with them when it returns (a hold left open through a
   * long run of writes would keep every page they free from reuse, and the file would
   * grow). Undefined inside a write, whose views a later change in it may move.
   */
  holdViews(end: () => void): (() => void) | undefined;
  has(table: Table, key: Uint8Array): boolean;
  /** Only inside `write`. Key and value are copied (or stored) before it returns: the caller may reuse them. */
  put(table: Table, key: Uint8Array, value: Uint8Array): void;
  /** Only inside `write`. */
  del(table: Table, key: Uint8Array): void;
  /** Keys in byte order. */
  range(table: Table, range?: KeyRange): Iterable<[Uint8Array, Uint8Array]>;
  keys(table: Table, range?: KeyRange): Iterable<Uint8Array>;
  count(table: Table): number;
  /**
   * Runs `fn` in one write transaction, with every change `writeLater` left pending:
   * all of its puts and deletes land, or none (and the pending ones stay pending).
   */
  write<T>(fn: () => T): T;
  /**
   * Runs `fn` atomically without committing: its changes are seen by every read at once
   * and committed by the next `write` (group commit, for changes that need not be
   * durable on their own). Inside a `write`, the same as `write`.
   */
  writeLater<T>(fn: () => T): T;
  /**
   * Counts the failed `write` and `writeLater` calls, whose changes were undone: a cache
   * of decoded records drops what it holds when this moves.
   */
  readonly undone: number;
  /** Changes `writeLater` made that no transaction has committed yet. */
  readonly pendingChanges: { count: number; bytes: number };
  /**
   * Pending changes made since the last `markLogged` (null: a delete), for a write log
   * to make durable without a commit.
   */
  unloggedChanges(): [Table, Uint8Array, Uint8Array | null][];
  /** The changes `unloggedChanges` gave are in a log. */
  markLogged(): void;
  /**
   * `during` runs inside every transaction that commits pending changes, after they are
   * applied; `after` once such a transaction has committed (the write log's marks).
   */
  onCommitPending(hooks: { during(): void; after(): void }): void;
  /** Forces committed transactions to disk. */
  flush(): Promise<void>;
  /** Reads from here on see every transaction committed so far (a reader's view may lag otherwise). */
  refresh(): void;
  close(): Promise<void>;
}

/** The smallest key strictly greater than every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}
