/**
 * A store: one LMDB environment in one directory. Opening checks that it is a revfs
 * store of a format this code reads; opening for writing takes the writer lock.
 */
import { BlockMaps } from "./block_map.ts";
import { BlockStore } from "./blocks.ts";
import { readU64, u64Key, utf8, utf8d } from "./codec.ts";
import { type Change, diffTrees } from "./diff.ts";
import { DirTrees } from "./dir_tree.ts";
import { collectGarbage, type GcResult } from "./gc.ts";
import { toHex } from "./hash.ts";
import { Head } from "./head.ts";
import { LMDB_DATA_FILE, LmdbRecordStore } from "./lmdb_backend.ts";
import { WriterLock } from "./lock.ts";
import { optimize, type OptimizeResult } from "./optimize.ts";
import { PageStore } from "./pages.ts";
import type { RecordStore } from "./records.ts";
import { RevisionLog } from "./revisions.ts";
import { commitHead } from "./snapshot.ts";
import { computeStats, type StoreStats } from "./stats.ts";
import { HeadView, RevisionView, type TreeView } from "./tree_view.ts";
import { type BlockHash, type FileEntry, RevfsError, type Revision, type RevNumber } from "./types.ts";
import { readRange } from "./read_range.ts";
import { Verifier, type VerifyReport } from "./verify.ts";
import { initZstd } from "./zstd.ts";

/** Bumped whenever the on-disk format changes; see store/FORMAT.md "Changes". */
export const FORMAT_VERSION = 2;
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
/** Pending head changes (`changeLater`) are committed once they hold this much. */
const COMMIT_PENDING_BYTES = 4 << 20;
const MAGIC = "revfs store";

const META = {
  magic: utf8.encode("magic"),
  format: utf8.encode("format"),
  storeId: utf8.encode("storeId"),
  blockSize: utf8.encode("blockSize"),
  headParent: utf8.encode("headParent"),
} as const;

export interface OpenOptions {
  /** Take the writer lock; fails with STORE_LOCKED while another writer has it. */
  write?: boolean;
}

export interface InitOptions {
  blockSize?: number;
}

export type Progress = (done: number, total: number) => void;

function isDir(path: string): boolean | undefined {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

export class Store {
  readonly blockSize: number;
  readonly storeId: string;
  readonly head: Head;
  readonly log: RevisionLog;
  readonly blocks: BlockStore;
  readonly pages: PageStore;
  readonly maps: BlockMaps;
  readonly dirs: DirTrees;

  private constructor(
    readonly dir: string,
    readonly records: RecordStore,
    private readonly lock: WriterLock | null,
  ) {
    this.blockSize = readU64(records.get("meta", META.blockSize)!);
    this.storeId = toHex(records.get("meta", META.storeId)!);
    this.blocks = new BlockStore(records, this.blockSize);
    this.pages = new PageStore(records);
    this.maps = new BlockMaps(this.pages);
    this.dirs = new DirTrees(this.pages);
    this.log = new RevisionLog(records);
    this.head = new Head(records, this.blocks, this.maps, this.dirs, this.blockSize);
  }

  get writable(): boolean {
    return this.lock !== null;
  }

  /** Creates a store in `dir`, which must be missing or empty. Returns it open for writing. */
  static async init(dir: string, opts: InitOptions = {}): Promise<Store> {
    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(Math.log2(blockSize)) || blockSize < 4096 || blockSize > 1 << 24) {
      throw new RevfsError("INVALID", `block size must be a power of two from 4096 to 16 MiB, not ${blockSize}`);
    }
    const kind = isDir(dir);
    if (kind === false) throw new RevfsError("STORE_EXISTS", `${dir} exists and is not a directory`);
    if (kind === true && exists(`${dir}/${LMDB_DATA_FILE}`)) {
      throw new RevfsError("STORE_EXISTS", `${dir} already holds a store`);
    }
    Deno.mkdirSync(dir, { recursive: true });
    if ([...Deno.readDirSync(dir)].length > 0) {
      throw new RevfsError("STORE_EXISTS", `${dir} is not empty; a new store needs an empty or missing directory`);
    }
    await initZstd();
    const lock = WriterLock.tryAcquire(dir);
    if (!lock) throw new RevfsError("STORE_LOCKED", `${dir} is being initialised by another process`);
    const records = LmdbRecordStore.open(dir, { create: true });
    const id = crypto.getRandomValues(new Uint8Array(16));
    records.write(() => {
      records.put("meta", META.format, u64Key(FORMAT_VERSION));
      records.put("meta", META.storeId, id);
      records.put("meta", META.blockSize, u64Key(blockSize));
      records.put("meta", META.headParent, u64Key(0));
      // Magic last: a store interrupted during init is refused, never half-read.
      records.put("meta", META.magic, utf8.encode(MAGIC));
    });
    const store = new Store(dir, records, lock);
    store.head.initRoot(0o755, Deno.uid() ?? 0, Deno.gid() ?? 0);
    await records.flush();
    return store;
  }

  /** Opens `dir` for writing, creating a store there when nothing exists at that path. */
  static async openOrCreate(dir: string): Promise<Store> {
    if (!exists(dir)) return await Store.init(dir);
    return await Store.open(dir, { write: true });
  }

  static async open(dir: string, opts: OpenOptions = {}): Promise<Store> {
    const kind = isDir(dir);
    if (kind === undefined) {
      throw new RevfsError("NOT_A_STORE", `no store at ${dir} (create one with: revfs init ${dir})`);
    }
    if (kind === false) throw new RevfsError("NOT_A_STORE", `${dir} is not a revfs store (it is not a directory)`);
    if (!exists(`${dir}/${LMDB_DATA_FILE}`)) {
      throw new RevfsError("NOT_A_STORE", `${dir} is not a revfs store (no ${LMDB_DATA_FILE})`);
    }
    await initZstd();
    let lock: WriterLock | null = null;
    if (opts.write) {
      lock = WriterLock.tryAcquire(dir);
      if (!lock) {
        throw new RevfsError(
          "STORE_LOCKED",
          `store ${dir} is in use by another writer (a running mount or another revfs command)`,
        );
      }
    }
    let records: RecordStore;
    try {
      records = LmdbRecordStore.open(dir);
    } catch (e) {
      lock?.release();
      if (e instanceof RevfsError) throw e;
      throw new RevfsError("NOT_A_STORE", `${dir} is not a readable revfs store: ${(e as Error).message}`);
    }
    try {
      const magic = records.get("meta", META.magic);
      if (!magic || utf8d.decode(magic) !== MAGIC) {
        throw new RevfsError("NOT_A_STORE", `${dir} is not a revfs store (an LMDB environment without revfs metadata)`);
      }
      const format = readU64(records.get("meta", META.format)!);
      if (format > FORMAT_VERSION) {
        throw new RevfsError(
          "NEWER_FORMAT",
          `store ${dir} has format ${format}; this revfs reads up to format ${FORMAT_VERSION}: upgrade revfs`,
        );
      }
      // Format 1 is format 2 without deltas or chains: a writer just relabels it, so
      // an older revfs (which would not keep the chains table) refuses it from then on.
      if (lock && format < FORMAT_VERSION) {
        records.write(() => records.put("meta", META.format, u64Key(FORMAT_VERSION)));
      }
      return new Store(dir, records, lock);
    } catch (e) {
      await records.close();
      lock?.release();
      throw e;
    }
  }

  /** Closes the store; pending changes are committed first (and lost only if that fails). */
  async close(): Promise<void> {
    try {
      if (this.writable) this.commit();
    } finally {
      await this.records.close();
      this.lock?.release();
    }
  }

  private requireWrite(what: string): void {
    if (!this.lock) throw new Error(`${what} needs a store opened for writing`);
  }

  /** A number, a tag, or `head`. */
  resolve(spec: string): RevNumber | "head" {
    return this.log.resolve(spec);
  }

  revision(rev: RevNumber): Revision {
    const r = this.log.get(rev);
    if (!r) throw new RevfsError("UNKNOWN_REV", `unknown revision ${rev}`);
    return r;
  }

  view(spec: RevNumber | "head"): TreeView {
    if (spec === "head") return new HeadView(this.head, this.blocks);
    return this.revisionView(spec);
  }

  revisionView(rev: RevNumber): RevisionView {
    return new RevisionView(this.revision(rev), this.dirs, this.maps, this.blocks);
  }

  /** Bytes of a file of a revision, by its entry (no path walk: the mount's read path). */
  readEntry(e: FileEntry, offset: number, length: number): Uint8Array {
    return readRange(
      e.size,
      offset,
      length,
      this.blockSize,
      (idx) => {
        const h = this.maps.lookup(e.content, idx);
        return h === null ? null : this.blocks.get(h);
      },
    );
  }

  /**
   * A block's bytes, verified, as committed by now: for a reader that lives beside a
   * writer in the same process (the mount's block loaders).
   */
  loadBlock(hash: BlockHash, into?: Uint8Array): Uint8Array {
    this.records.refresh();
    return this.blocks.get(hash, into);
  }

  /** Hash of block `index` of a revision's file (null: a hole): for a block cache. */
  entryBlock(e: FileEntry, index: number): BlockHash | null {
    return index * this.blockSize < e.size ? this.maps.lookup(e.content, index) : null;
  }

  /** Runs `fn` in one write transaction: the head changes it makes commit together. */
  transaction<T>(fn: () => T): T {
    this.requireWrite("transaction");
    return this.records.write(fn);
  }

  /** Turns the head into a new immutable revision, atomically. */
  snapshot(message = ""): Revision {
    this.requireWrite("snapshot");
    return this.records.write(() => {
      const parent = readU64(this.records.get("meta", META.headParent)!);
      const rev = commitHead(this.records, this.head, this.dirs, this.log, parent, message);
      this.records.put("meta", META.headParent, u64Key(rev.rev));
      return rev;
    });
  }

  /**
   * Runs `fn`'s head changes atomically and at once for every reader, but commits them
   * with the next transaction (`transaction`, `snapshot`, `commit`, `flush`): a writer
   * that makes many small changes (a mount's creates and renames) pays one commit for
   * a group of them. Changes pile up to COMMIT_PENDING_BYTES before one is forced.
   */
  changeLater<T>(fn: () => T): T {
    this.requireWrite("change");
    const out = this.records.writeLater(fn);
    const { bytes } = this.records.pendingChanges;
    if (bytes >= this.forceCommitAt) {
      try {
        this.commit();
        this.forceCommitAt = COMMIT_PENDING_BYTES;
      } catch {
        // The change is made; a commit that fails here (disk full) is reported by the
        // next flush, snapshot or transaction, which try again. Not on every change.
        this.forceCommitAt = bytes + COMMIT_PENDING_BYTES;
      }
    }
    return out;
  }
  private forceCommitAt = COMMIT_PENDING_BYTES;

  /** Commits the changes `changeLater` left pending, if any. */
  commit(): void {
    if (this.records.pendingChanges.count > 0) this.records.write(() => {});
  }

  /** Changes made with `changeLater` and not committed yet. */
  get pendingChanges(): { count: number; bytes: number } {
    return this.records.pendingChanges;
  }

  /** Commits what is pending and waits until every committed transaction is on disk. */
  flush(): Promise<void> {
    if (this.writable) this.commit();
    return this.records.flush();
  }

  diff(a: RevNumber, b: RevNumber): Change[] {
    return diffTrees(this.dirs, this.revision(a).root, this.revision(b).root);
  }

  tag(name: string, rev: RevNumber): void {
    this.requireWrite("tag");
    this.revision(rev);
    this.records.write(() => this.log.setTag(name, rev));
  }

  untag(name: string): void {
    this.requireWrite("untag");
    const ok = this.records.write(() => this.log.deleteTag(name));
    if (!ok) throw new RevfsError("UNKNOWN_REV", `no tag ${JSON.stringify(name)}`);
  }

  /** Removes a revision from the log; `gc` then frees what only it used. */
  drop(rev: RevNumber): void {
    this.requireWrite("drop");
    this.revision(rev);
    this.records.write(() => this.log.remove(rev));
  }

  gc(progress?: Progress): GcResult {
    this.requireWrite("gc");
    return collectGarbage(this.records, this.pages, this.blocks, this.log, this.head, progress);
  }

  /** Trains dictionaries and re-encodes blocks with them (store/optimize.ts). */
  optimize(progress?: Progress, note?: (line: string) => void): OptimizeResult {
    this.requireWrite("optimize");
    return optimize(this.records, this.blocks, this.log, this.dirs, this.maps, progress, note);
  }

  verify(progress?: Progress): VerifyReport {
    return new Verifier(this.records, this.pages, this.blocks, this.blockSize, progress).run(this.log, this.head);
  }

  stats(): StoreStats {
    return computeStats(this);
  }
}
