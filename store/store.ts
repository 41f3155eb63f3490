/**
 * A store: one LMDB environment in one directory, and the one implementation of the
 * VersionedStore interface (store/api.ts). Opening checks that it is a revfs store of
 * a format this code reads; opening for writing takes the writer lock.
 *
 * `parts` holds the layers below (records, blocks, trees, head) for the store's own
 * modules and for tests; users of the store see only the interface.
 */
import type { HeadApi, Progress, VersionedStore } from "./api.ts";
import { BlockStore } from "./blocks/block_store.ts";
import { Head } from "./head/head.ts";
import type { FileWriteout } from "./head/file_blocks.ts";
import { restorePath } from "./head/restore.ts";
import { takeSnapshot } from "./head/snapshot.ts";
import { HeadLog } from "./head/head_log.ts";
import { exportTree } from "./local/export.ts";
import { importDir } from "./local/import.ts";
import { collectGarbage, type GcResult } from "./maintenance/gc.ts";
import { optimize, type OptimizeResult } from "./maintenance/optimize.ts";
import { computeStats, revisionCosts, type StoreStats } from "./maintenance/stats.ts";
import { Verifier, type VerifyReport } from "./maintenance/verify.ts";
import type { AccessLock, WriterLock } from "./records/lock.ts";
import type { RecordStore } from "./records/records.ts";
import type { StoreParts } from "./parts.ts";
import { createRecords, exists, type InitOptions, type OpenOptions, openRecords, storeMeta } from "./open.ts";
import { BlockMaps } from "./tree/block_map.ts";
import { type Change, diffTrees } from "./tree/diff.ts";
import { DirTrees } from "./tree/dir_tree.ts";
import { PageStore } from "./tree/pages.ts";
import { RevisionLog } from "./tree/revisions.ts";
import { HeadView, RevisionView, type TreeView } from "./tree/tree_view.ts";
import { type BlockHash, type FileEntry, type Ino, RevfsError, type Revision, type RevNumber } from "./types.ts";

export { DEFAULT_BLOCK_SIZE, FORMAT_VERSION, type InitOptions, type OpenOptions } from "./open.ts";

/** Pending head changes are committed once they hold this much. */
const COMMIT_PENDING_BYTES = 4 << 20;

export class Store implements VersionedStore {
  readonly blockSize: number;
  readonly storeId: string;
  readonly parts: StoreParts;
  readonly head: HeadApi;
  private forceCommitAt = COMMIT_PENDING_BYTES;
  private isClosed = false;
  /** The head's write log; opened with the writer lock. */
  private log: HeadLog | null = null;

  private constructor(
    readonly dir: string,
    records: RecordStore,
    private readonly lock: WriterLock | null,
    private readonly access: AccessLock | null,
  ) {
    ({ blockSize: this.blockSize, storeId: this.storeId } = storeMeta(records));
    const blocks = new BlockStore(records, this.blockSize);
    const pages = new PageStore(records);
    const maps = new BlockMaps(pages);
    const dirs = new DirTrees(pages);
    this.parts = {
      dir,
      blockSize: this.blockSize,
      records,
      blocks,
      pages,
      maps,
      dirs,
      log: new RevisionLog(records),
      head: new Head(records, blocks, maps, dirs, this.blockSize),
    };
    this.head = this.headApi();
  }

  /** Set by `close`; a closed store is not used again. */
  get closed(): boolean {
    return this.isClosed;
  }

  get writable(): boolean {
    return this.lock !== null;
  }

  /** Creates a store in `dir`, which must be missing or empty. Returns it open for writing. */
  static async init(dir: string, opts: InitOptions = {}): Promise<Store> {
    const { records, lock, access } = await createRecords(dir, opts);
    const store = new Store(dir, records, lock, access);
    records.write(() => store.parts.head.inodes.initRoot(0o755, Deno.uid() ?? 0, Deno.gid() ?? 0));
    await records.flush();
    store.openLog();
    return store;
  }

  /** Opens `dir` for writing, creating a store there when nothing exists at that path. */
  static async openOrCreate(dir: string, opts: Omit<OpenOptions, "write"> = {}): Promise<Store> {
    const store = exists(dir) ? await Store.open(dir, { ...opts, write: true }) : await Store.init(dir);
    store.parts.blocks.hashOnRead = opts.verifyReads ?? false;
    return store;
  }

  /** Opens the store in `dir`, refusing what is not a store or is of a newer format. */
  static async open(dir: string, opts: OpenOptions = {}): Promise<Store> {
    if (!opts.write && HeadLog.hasRecords(dir)) await Store.foldLeftLog(dir);
    const { records, lock, access } = await openRecords(dir, opts);
    const store = new Store(dir, records, lock, access);
    store.parts.blocks.hashOnRead = opts.verifyReads ?? false;
    if (lock) {
      try {
        store.openLog();
      } catch (e) {
        await store.close();
        throw e;
      }
    }
    return store;
  }

  /**
   * A writer that crashed left writes in its log: a reader folds them first (opening the
   * store for writing once), so that it sees them, unless a writer is running (whose log
   * it is) or the store cannot be written here (then it reads the head without them).
   */
  private static async foldLeftLog(dir: string): Promise<void> {
    let writer: Store;
    try {
      writer = await Store.open(dir, { write: true });
    } catch (e) {
      if (e instanceof RevfsError && e.code === "STORE_LOCKED") return;
      if (e instanceof Deno.errors.PermissionDenied || (e as Error).message.startsWith("cannot open")) return;
      throw e;
    }
    await writer.close();
  }

  /** Opens the write log; what a crashed writer logged is stored first. */
  private openLog(): void {
    const { records, head } = this.parts;
    this.log = HeadLog.open(this.dir, records, head, (fn) => this.transaction("write log replay", fn));
  }

  /** Closes the store; pending changes are committed first (and lost only if that fails). */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      if (this.writable) this.commit();
    } finally {
      try {
        this.log?.closing((fn) => this.transaction("write log", fn));
      } catch {
        // The log stays as it is; the next writer replays what it must.
      }
      await this.parts.records.close();
      this.lock?.release();
      this.access?.release();
    }
  }

  private requireWrite(what: string): void {
    if (!this.lock) throw new Error(`${what} needs a store opened for writing`);
  }

  /** Runs `fn` in one write transaction, committed when it returns. */
  private transaction<T>(what: string, fn: () => T): T {
    this.requireWrite(what);
    return this.parts.records.write(fn);
  }

  /**
   * Runs `fn`'s head changes atomically and at once for every reader, but commits them
   * with the next transaction: a writer that makes many small changes (a mount's
   * creates and renames) pays one commit for a group of them. Changes pile up to
   * COMMIT_PENDING_BYTES before one is forced.
   */
  private changeLater<T>(fn: () => T): T {
    this.requireWrite("change");
    const records = this.parts.records;
    const out = records.writeLater(fn);
    const { bytes } = records.pendingChanges;
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

  private headApi(): HeadApi {
    const { inodes, files, names, pins } = this.parts.head;
    const later = <T>(fn: () => T) => this.changeLater(fn);
    return {
      inode: (ino) => inodes.get(ino),
      lookup: (parent, name) => inodes.lookup(parent, name),
      readdir: (dir) => inodes.readdir(dir),
      blockHash: (f, index) => files.blockHash(f, index),
      inlineBlock: (f) => files.inlineBlock(f),
      presentBlocks: (f) => files.presentBlocks(f),
      create: (parent, name, node) => later(() => names.create(parent, name, node)),
      remove: (parent, name, dir) => later(() => names.remove(parent, name, dir)),
      rename: (parent, name, newParent, newName) => later(() => names.rename(parent, name, newParent, newName)),
      link: (ino, newParent, newName) => later(() => names.link(ino, newParent, newName)),
      setattr: (ino, change) => {
        if (change.size !== undefined) this.requireUnlogged(ino, "a resize");
        return later(() => names.setattr(ino, change));
      },
      setXattr: (ino, name, value, mode) => later(() => names.setXattr(ino, name, value, mode)),
      accessed: (ino, nowNs) => later(() => names.accessed(ino, nowNs)),
      pin: (ino) => pins.pin(ino),
      unpin: (ino) => later(() => names.unpin(ino)),
      sweepOrphans: () => this.transaction("sweep", () => names.sweepOrphans()),
      write: (ino, offset, data) => {
        this.requireUnlogged(ino, "a write");
        return this.transaction("write", () => files.write(ino, offset, data));
      },
      logWrites: (w) => {
        this.requireWrite("logging writes");
        this.log!.append(w);
      },
      writeBlocks: (w) => this.writeout(w),
      shareBlocks: (ino, size, blocks) => {
        this.requireUnlogged(ino, "sharing blocks");
        return later(() => files.shareBlocks(ino, size, blocks));
      },
    };
  }

  // --- the write log ----------------------------------------------------------------

  /** Stores files' blocks; when the log holds writes, this must cover every logged file still in the head. */
  private writeout(w: FileWriteout[]): ([number, BlockHash | null][] | undefined)[] {
    const { files } = this.parts.head;
    const log = this.log;
    const folds = log?.foldsWith(w.map((f) => f.ino)) ?? false;
    const out = this.transaction("writeout", () => {
      const hashes = w.map((f) => files.writeBlocks(f));
      if (folds) log!.markFolded();
      return hashes;
    });
    if (folds) log!.folded();
    return out;
  }

  private requireUnlogged(ino: Ino, what: string): void {
    this.log?.requireUnlogged(ino, what);
  }

  // --- revisions and tags ---------------------------------------------------

  resolve(spec: string): RevNumber | "head" {
    return this.parts.log.resolve(spec);
  }

  revision(rev: RevNumber): Revision {
    const r = this.parts.log.get(rev);
    if (!r) throw new RevfsError("UNKNOWN_REV", `unknown revision ${rev}`);
    return r;
  }

  revisions(): Revision[] {
    return [...this.parts.log.all()];
  }

  latest(): Revision | undefined {
    return this.parts.log.latest();
  }

  tags(): [string, RevNumber][] {
    return this.parts.log.tags();
  }

  tagsOf(rev: RevNumber): string[] {
    return this.parts.log.tagsOf(rev);
  }

  tag(name: string, rev: RevNumber): void {
    this.revision(rev);
    this.transaction("tag", () => this.parts.log.setTag(name, rev));
  }

  untag(name: string): void {
    const ok = this.transaction("untag", () => this.parts.log.deleteTag(name));
    if (!ok) throw new RevfsError("UNKNOWN_REV", `no tag ${JSON.stringify(name)}`);
  }

  drop(rev: RevNumber): void {
    this.revision(rev);
    this.transaction("drop", () => this.parts.log.remove(rev));
  }

  snapshot(message = ""): Revision {
    const logged = this.log?.loggedFiles() ?? [];
    if (logged.length > 0) throw new Error(`snapshot while inode ${logged[0]}'s writes are only logged`);
    return this.transaction("snapshot", () => takeSnapshot(this.parts, message));
  }

  // --- reading trees ----------------------------------------------------------

  view(spec: RevNumber | "head"): TreeView {
    if (spec === "head") return new HeadView(this.parts.head, this.parts.blocks);
    return this.revisionTree(spec);
  }

  revisionTree(rev: RevNumber): RevisionView {
    const { dirs, maps, blocks } = this.parts;
    return new RevisionView(this.revision(rev), dirs, maps, blocks);
  }

  entryBlocks(e: FileEntry): [number, BlockHash][] {
    return [...this.parts.maps.present(e.content)].filter(([idx]) => idx * this.blockSize < e.size);
  }

  entryBlock(e: FileEntry, index: number): BlockHash | null {
    return index * this.blockSize < e.size ? this.parts.maps.lookup(e.content, index) : null;
  }

  readBlock(hash: BlockHash, into?: Uint8Array): Uint8Array {
    return this.parts.blocks.get(hash, into);
  }

  loadBlock(hash: BlockHash, into?: Uint8Array): Uint8Array {
    this.parts.records.refresh();
    return this.parts.blocks.get(hash, into);
  }

  prefetchBlocks(hashes: readonly BlockHash[]): void {
    this.parts.records.refresh();
    this.parts.blocks.prefetch(hashes);
  }

  get recordsDecoded(): number {
    return this.parts.blocks.decoded;
  }

  diff(a: RevNumber, b: RevNumber): Change[] {
    return diffTrees(this.parts.dirs, this.revision(a).root, this.revision(b).root);
  }

  // --- committing -----------------------------------------------------------------

  get pendingChanges(): { count: number; bytes: number } {
    return this.parts.records.pendingChanges;
  }

  commit(): void {
    if (this.parts.records.pendingChanges.count > 0) this.parts.records.write(() => {});
  }

  flush(): Promise<void> {
    if (this.writable) this.commit();
    return this.parts.records.flush();
  }

  // --- the local disk -------------------------------------------------------------

  importDir(src: string, message: string, progress?: Progress): Promise<Revision> {
    this.requireWrite("import");
    return Promise.resolve().then(() => importDir(this.parts, src, message, progress));
  }

  async exportTree(spec: RevNumber | "head", dst: string, progress?: Progress): Promise<void> {
    try {
      await exportTree(this.view(spec), this.blockSize, dst, progress);
    } catch (e) {
      throw e instanceof RevfsError && e.rev === undefined && spec !== "head" ? e.with({ rev: spec }) : e;
    }
  }

  restore(path: string, rev: RevNumber): void {
    const r = this.revision(rev);
    this.transaction("restore", () => restorePath(this.parts, r, path));
  }

  // --- maintenance ----------------------------------------------------------------

  gc(progress?: Progress): GcResult {
    this.requireWrite("gc");
    return collectGarbage(this.parts, progress);
  }

  /** Trains dictionaries and re-encodes blocks with them (store/maintenance/optimize.ts). */
  optimize(progress?: Progress, note?: (line: string) => void): OptimizeResult {
    this.requireWrite("optimize");
    return optimize(this.parts, progress, note);
  }

  verify(progress?: Progress): VerifyReport {
    const { records, pages, blocks, blockSize, log, head } = this.parts;
    return new Verifier(records, pages, blocks, blockSize, progress).run(log, head);
  }

  stats(): StoreStats {
    return computeStats(this.parts);
  }

  revisionCosts(): Map<RevNumber, number> {
    return revisionCosts(this.parts);
  }
}
