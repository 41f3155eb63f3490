/**
 * How a writer changes the head: small changes (a mount's creates and renames) grouped
 * into few commits, block writes stored in one transaction each, and the write log
 * (store/head/head_log.ts) that makes an fsync durable without a commit. The Store
 * (store/store.ts) holds one when it is opened for writing, and gives its `api` to the
 * mount.
 */
import type { HeadApi } from "./api.ts";
import type { FileWriteout } from "./head/file_blocks.ts";
import { HeadLog } from "./head/head_log.ts";
import type { StoreParts } from "./parts.ts";
import type { BlockHash, Ino } from "./types.ts";

/** Pending head changes are committed once they hold this much. */
const COMMIT_PENDING_BYTES = 4 << 20;

export class HeadWriter {
  readonly api: HeadApi;
  private forceCommitAt = COMMIT_PENDING_BYTES;
  /** The head's write log; opened with the writer lock. */
  private log: HeadLog | null = null;

  /** `writable`: the store was opened with the writer lock; else every change is refused. */
  constructor(private readonly parts: StoreParts, private readonly writable: boolean) {
    this.api = this.headApi();
  }

  /** Opens the write log; what a crashed writer logged is stored first. */
  openLog(): void {
    const { dir, records, head } = this.parts;
    this.log = HeadLog.open(dir, records, head, (fn) => this.transaction("write log replay", fn));
  }

  /** Lets the log go as the store closes (after the last commit). */
  closeLog(): void {
    try {
      this.log?.closing((fn) => this.transaction("write log", fn));
    } catch {
      // The log stays as it is; the next writer replays what it must.
    }
  }

  /** Files whose writes are in the log but not stored yet. */
  loggedFiles(): Ino[] {
    return this.log?.loggedFiles() ?? [];
  }

  requireWrite(what: string): void {
    if (!this.writable) throw new Error(`${what} needs a store opened for writing`);
  }

  /** Runs `fn` in one write transaction, committed when it returns. */
  transaction<T>(what: string, fn: () => T): T {
    this.requireWrite(what);
    return this.parts.records.write(fn);
  }

  /** Commits the changes made with `changeLater`, if any. */
  commit(): void {
    if (this.parts.records.pendingChanges.count > 0) this.parts.records.write(() => {});
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
    const { inodes, files, names, pins, fresh } = this.parts.head;
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
      onFreed: (listener) => fresh.onFreed(listener),
    };
  }

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
}
