/**
 * A program that reads the files of a directory one after another (cp -r, tar, grep -r)
 * waits for the disk at the first record of each file. Where freed pages were reused,
 * the records of files written together are scattered, so neither the disk nor the
 * store's address-order read-ahead has them early: a cold `cp -r` out of 3,000 files
 * spent 180-216 us a read against 87 us in a new store (REVFS_OP_TIMES, by hand). So once a
 * second file of a directory is read from its start, the first records of the files
 * after it are asked of the disk ahead, about FILES_AHEAD of them, without waiting;
 * while that goes on, the first file started in another directory does the same (a
 * walk of a tree comes to each directory once).
 *
 * "After" is inode order: GNU cp and tar read a directory in inode order (gnulib's
 * savedir), which for a tree copied in is the order its files were made. A reader in
 * another order still gets the directory asked for ahead of it as it goes: the count of
 * files started moves the window, not their place.
 */

/** Files of a directory whose first records are kept asked for ahead of its reader. */
const FILES_AHEAD = 32;
/** Directories followed at once; the least recently read are forgotten past this. */
const MAX_DIRS = 16;
/** A directory whose last file was started longer ago than this is being read afresh. */
const STREAK_MS = 2000;

interface DirReader {
  /** What `filesOf` gave, and its regular files' inodes in inode order. */
  listing: unknown;
  files: number[];
  /** Files started from their beginning since the streak began. */
  started: number;
  /** `files[0..asked)` were asked for. */
  asked: number;
  lastMs: number;
}

export class DirReadAhead {
  private readonly dirs = new Map<number, DirReader>();
  /** When a file was last started in a directory whose files are being read one after another. */
  private walkMs = -Infinity;

  constructor(
    /**
     * A directory's listing (the same object until the directory changes, which tells a
     * reader to sort it again) and the inodes of its regular files.
     */
    private readonly filesOf: (dir: number) => { listing: unknown; files: () => number[] },
    /** Asks the disk for the first records of these files, not waiting. */
    private readonly prefetch: (inos: number[]) => void,
  ) {}

  /** `ino`, a file in `dir`, is read from its start. */
  started(dir: number, ino: number, nowMs = Date.now()): void {
    let d = this.dirs.get(dir);
    this.dirs.delete(dir);
    if (d && nowMs - d.lastMs > STREAK_MS) d = undefined;
    if (!d) {
      // One file read is no pattern (unless a walk is on): the directory is listed at the second.
      d = { listing: undefined, files: [], started: 0, asked: 0, lastMs: nowMs };
      if (this.dirs.size >= MAX_DIRS) this.dirs.delete(this.dirs.keys().next().value!);
    }
    this.dirs.set(dir, d);
    d.lastMs = nowMs;
    // A walk reading the files of one directory after another: every directory it comes to is read.
    const walking = nowMs - this.walkMs <= STREAK_MS;
    if (++d.started < (walking ? 1 : 2)) return;
    this.walkMs = nowMs;
    if (d.asked - d.started >= FILES_AHEAD / 2) return;
    const { listing, files } = this.filesOf(dir);
    if (listing !== d.listing) {
      d.listing = listing;
      d.files = files().sort((a, b) => a - b);
    }
    const to = Math.min(d.files.length, d.started + FILES_AHEAD);
    if (to <= d.asked) return;
    const ahead = d.files.slice(d.asked, to).filter((f) => f !== ino);
    d.asked = to;
    if (ahead.length > 0) this.prefetch(ahead);
  }
}
