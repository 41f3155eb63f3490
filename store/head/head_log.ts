/**
 * The head's write log as the store keeps it (the file itself: store/head/write_log.ts):
 * what an fsync appends, the marks in meta that say what of the log the store holds, the
 * rules that keep a replay from undoing newer state, and the replay itself.
 *
 * Marks: `logApplied`, the last LSN whose changes a commit applied (set inside every
 * commit of pending changes); `logFolded`, the last generation whose writes a writeout
 * stored. The log restarts (empty, next generation) once both cover all it holds.
 */
import { readU64, u64Key, utf8 } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import type { Ino } from "../types.ts";
import type { FileWriteout } from "./file_blocks.ts";
import type { Head } from "./head.ts";
import { type LoggedWrite, type Unreplayed, WriteLog } from "./write_log.ts";

const META_FOLDED = utf8.encode("logFolded");
const META_APPLIED = utf8.encode("logApplied");
const EMPTY = new Uint8Array(0);

function readMark(records: RecordStore, key: Uint8Array): number {
  const v = records.get("meta", key);
  return v ? readU64(v) : 0;
}

export class HeadLog {
  private applied: number;
  private restartAfterCommit = false;

  private constructor(
    private readonly log: WriteLog,
    private readonly records: RecordStore,
    private readonly head: Head,
  ) {
    this.applied = readMark(records, META_APPLIED);
    records.onCommitPending({ during: () => this.duringCommit(), after: () => this.afterCommit() });
  }

  /** Whether `dir` has a log with records (which may all be in the store already). */
  static hasRecords(dir: string): boolean {
    return WriteLog.hasRecords(dir);
  }

  /**
   * Opens `dir`'s log; what a stopped writer logged and the store lacks is replayed first,
   * in one transaction (`write`).
   */
  static open(dir: string, records: RecordStore, head: Head, write: (fn: () => void) => void): HeadLog {
    const { log, unreplayed } = WriteLog.open(dir, readMark(records, META_FOLDED), readMark(records, META_APPLIED));
    try {
      if (unreplayed.changes.length > 0 || unreplayed.writes.length > 0) {
        write(() => replay(records, head, unreplayed));
      }
      const headLog = new HeadLog(log, records, head);
      // What the file holds is in the store now: it starts empty.
      log.restart();
      return headLog;
    } catch (e) {
      log.close();
      throw e;
    }
  }

  /**
   * Makes the head's uncommitted changes and `writes` durable: one record, synced. The
   * writer keeps the writes; a later writeout of every logged file stores them.
   */
  append(writes: LoggedWrite[]): void {
    const changes = this.records.unloggedChanges();
    if (changes.length === 0 && writes.length === 0) return;
    this.log.append(changes, writes);
    this.records.markLogged();
  }

  /**
   * Before a writeout of `inos`: whether it folds the log's writes. It must then cover
   * every logged file the head still has (a replay would put the rest back over it).
   */
  foldsWith(inos: Iterable<Ino>): boolean {
    if (this.log.logged.size === 0) return false;
    const covered = new Set(inos);
    for (const ino of this.log.logged) {
      if (!covered.has(ino) && this.head.inodes.get(ino)) {
        throw new Error(`writeout leaves inode ${ino}'s logged writes behind: write out every logged file together`);
      }
    }
    return true;
  }

  /** Inside the writeout's transaction, when `foldsWith` said so. */
  markFolded(): void {
    this.records.put("meta", META_FOLDED, u64Key(this.log.generation));
  }

  /** After the folding writeout committed. */
  folded(): void {
    this.log.restart();
  }

  /**
   * A change to a file's stored size or blocks must not come before its logged writes
   * are stored: a replay after a crash would put them back over it.
   */
  requireUnlogged(ino: Ino, what: string): void {
    if (this.log.logged.has(ino)) throw new Error(`${what} of inode ${ino}, whose writes are only logged`);
  }

  /** Files whose writes are only in the log and that the head still has. */
  loggedFiles(): Ino[] {
    return [...this.log.logged].filter((ino) => this.head.inodes.get(ino));
  }

  /** At close, after the last commit: a log whose files are all gone needs no replay. */
  closing(write: (fn: () => void) => void): void {
    if (this.log.bytes > 0 && this.loggedFiles().length === 0) {
      write(() => this.markFolded());
      this.log.restart();
    }
    this.log.close();
  }

  private duringCommit(): void {
    this.restartAfterCommit = false;
    if (this.log.lastLsn > this.applied) this.records.put("meta", META_APPLIED, u64Key(this.log.lastLsn));
    // No writes waiting: with the changes applied, nothing in the log is needed.
    if (this.log.bytes > 0 && this.loggedFiles().length === 0) {
      this.markFolded();
      this.restartAfterCommit = true;
    }
  }

  private afterCommit(): void {
    this.applied = this.log.lastLsn;
    if (this.restartAfterCommit) this.log.restart();
    this.restartAfterCommit = false;
  }
}

/**
 * Inside one transaction: what a stopped writer logged and the store lacks. Changes
 * first: they are head records as they were at their log, and a logged write is always
 * newer than what the records say of its file (a resize waits for the writes' fold).
 */
function replay(records: RecordStore, head: Head, u: Unreplayed): void {
  for (const [table, key, value] of u.changes) {
    if (value === null) records.del(table, key);
    else records.put(table, key, value);
  }
  head.inodes.forgetDecoded();
  for (const w of writeoutsOf(u.writes, head)) head.files.writeBlocks(w);
  records.put("meta", META_APPLIED, u64Key(u.lastLsn));
  records.put("meta", META_FOLDED, u64Key(u.gen));
}

/** The writeouts that make the head hold what `logged` wrote, in order; files that are gone are skipped. */
function writeoutsOf(logged: LoggedWrite[], head: Head): FileWriteout[] {
  const bs = head.blockSize;
  const files = new Map<Ino, FileWriteout & { pages: Map<number, Uint8Array> }>();
  for (const w of logged) {
    const inode = head.inodes.get(w.ino);
    if (inode?.type !== "file") continue;
    let f = files.get(w.ino);
    if (!f) files.set(w.ino, f = { ino: w.ino, size: w.size, mtimeNs: w.mtimeNs, blocks: [], pages: new Map() });
    f.size = w.size;
    f.mtimeNs = w.mtimeNs;
    for (const [offset, bytes] of w.ranges) {
      const end = offset + bytes.length;
      for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
        const start = idx * bs;
        const from = Math.max(offset, start);
        const to = Math.min(end, start + bs);
        let page = f.pages.get(idx);
        if (!page || page.length < to - start) {
          const old = page ?? head.files.blockBytes(inode, idx) ?? EMPTY;
          page = new Uint8Array(Math.max(old.length, to - start));
          page.set(old);
          f.pages.set(idx, page);
        }
        page.set(bytes.subarray(from - offset, to - offset), from - start);
      }
    }
  }
  return [...files.values()].map(({ ino, size, mtimeNs, pages }) => ({
    ino,
    size,
    mtimeNs,
    blocks: [...pages].sort((a, b) => a[0] - b[0]),
  }));
}
