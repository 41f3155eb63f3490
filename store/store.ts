/**
 * A store: one LMDB environment in one directory, and the one implementation of the
 * VersionedStore interface (store/api.ts). Opening checks that it is a revfs store of
 * a format this code reads; opening for writing takes the writer lock, and changes go
 * through its HeadWriter (store/head_writer.ts).
 *
 * `parts` holds the layers below (records, blocks, trees, head) for the store's own
 * modules and for tests; users of the store see only the interface.
 */
import type { HeadApi, Progress, VersionedStore } from "./api.ts";
import { BlockStore } from "./blocks/block_store.ts";
import { Head } from "./head/head.ts";
import { restorePath } from "./head/restore.ts";
import { takeSnapshot } from "./head/snapshot.ts";
import { HeadLog } from "./head/head_log.ts";
import { LaterDeltas } from "./head/later_deltas.ts";
import { HeadWriter } from "./head_writer.ts";
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
import {
  type BlockHash,
  type DecodedBlock,
  type FileEntry,
  type PrefetchDepth,
  RevfsError,
  type Revision,
  type RevNumber,
} from "./types.ts";

export { DEFAULT_BLOCK_SIZE, FORMAT_VERSION, type InitOptions, type OpenOptions } from "./open.ts";

export class Store implements VersionedStore {
  readonly blockSize: number;
  readonly storeId: string;
  readonly parts: StoreParts;
  readonly head: HeadApi;
  private isClosed = false;
  private readonly writer: HeadWriter;

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
      laterDeltas: new LaterDeltas(blocks, pages),
    };
    this.writer = new HeadWriter(this.parts, lock !== null);
    this.head = this.writer.api;
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
    store.writer.openLog();
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
        store.writer.openLog();
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

  /** Closes the store; pending changes are committed first (and lost only if that fails). */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      if (this.writable) {
        try {
          this.makeLaterDeltas();
        } catch {
          // Only space: the versions they were for stay whole; the head's changes commit below.
        }
        this.commit();
      }
    } finally {
      this.writer.closeLog();
      await this.parts.records.close();
      this.lock?.release();
      this.access?.release();
    }
  }

  private requireWrite(what: string): void {
    this.writer.requireWrite(what);
  }

  /**
   * Runs `fn` in one write transaction, committed when it returns. Deltas a snapshot
   * left for later are made first, while every version they name is surely there (a
   * drop lets `gc` free a revision's blocks) and in the order they were decided.
   */
  private transaction<T>(what: string, fn: () => T): T {
    return this.writer.transaction(what, () => {
      this.parts.laterDeltas.make();
      return fn();
    });
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

  snapshot(message = "", opts: { before?: () => void; deltasLater?: boolean } = {}): Revision {
    const logged = this.writer.loggedFiles();
    if (logged.length > 0) throw new Error(`snapshot while inode ${logged[0]}'s writes are only logged`);
    try {
      return this.transaction("snapshot", () => {
        opts.before?.();
        return takeSnapshot(this.parts, message, { deltasLater: opts.deltasLater });
      });
    } catch (e) {
      // What it queued names pages and blocks its undone transaction had made.
      this.parts.laterDeltas.forget();
      throw e;
    }
  }

  makeLaterDeltas(): void {
    if (this.writable && this.parts.laterDeltas.pending > 0) {
      this.writer.transaction("deltas", () => this.parts.laterDeltas.make());
    }
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

  readBlockForReply(hash: BlockHash, into: () => Uint8Array): { data: Uint8Array; inPlace: boolean } {
    return this.parts.blocks.getForReply(hash, into);
  }

  readBlocksForReply(hashes: readonly BlockHash[], into: () => Uint8Array): (Uint8Array | undefined)[] {
    return this.parts.blocks.getManyForReply(hashes, into);
  }

  decodeBlocksAhead(hashes: readonly BlockHash[], into: () => Uint8Array): void {
    this.parts.blocks.decodeAhead(hashes, into);
  }

  collectDecodedAhead(wanted: readonly BlockHash[]): DecodedBlock[] {
    return this.parts.blocks.collectAhead(wanted);
  }

  storedWhole(hashes: readonly BlockHash[]): boolean {
    return this.parts.blocks.storedWhole(hashes);
  }

  loadBlock(hash: BlockHash, into?: Uint8Array): Uint8Array {
    this.parts.records.refresh();
    return this.parts.blocks.get(hash, into);
  }

  prefetchBlocks(hashes: readonly BlockHash[], depth: PrefetchDepth = "chains"): void {
    this.parts.records.refresh();
    this.parts.blocks.prefetch(hashes, depth);
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
    this.writer.commit();
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
    this.makeLaterDeltas();
    return collectGarbage(this.parts, progress);
  }

  /** Trains dictionaries and re-encodes blocks with them (store/maintenance/optimize.ts). */
  optimize(progress?: Progress, note?: (line: string) => void): OptimizeResult {
    this.requireWrite("optimize");
    this.makeLaterDeltas();
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
