/**
 * Who reads LMDB's map ahead of use, and how: the kernel (its read-around: on a page
 * fault that misses the page cache, the device's readahead size around the page, 8 MiB
 * on these machines), or sys/lmdb itself ("own": the map MADV_RANDOM, then exactly a
 * value's pages before they are touched, and what follows when values are read in
 * address order). docs/BENCHMARKS.md, "LMDB through our own binding", has the numbers.
 * A sequential reader's next stretch is asked for on a helper thread (map_ahead.c): the
 * request thread does not allocate the page cache's pages for it.
 */
import { libc } from "../libc.ts";
import { lib } from "./ffi.ts";

const PAGE = 4096;
const MADV_RANDOM = 1, MADV_WILLNEED = 3;
/** A value at most this far past the last one read continues a sequential read. */
const SEQUENTIAL_GAP = 1 << 20;
/** How far ahead of a sequential reader the map is read. */
const READ_AHEAD = 8 << 20;
/**
 * Values asked for together (`gather`) this close to one another in the map are asked
 * for as one range, gap included: one request of the disk, not one per value.
 */
const MERGE_GAP = 256 << 10;
/**
 * From this size on a value counts toward a reader in address order (a file's blocks:
 * the next READ_AHEAD bytes are asked for). A smaller one, as a walk reads small files'
 * records one after another, has only its own pages asked for.
 */
const SEQUENTIAL_MIN = 8 * 1024;
/** Values up to about this size sit in the leaf page with their key (LMDB's node size limit for 4 KiB pages). */
const LEAF_VALUE_MAX = 2 * 1024;

/**
 * Whether a value's bytes lie in more than one page. Those are asked for before they are
 * touched: LMDB keeps every value over ~2 KiB in overflow pages that finding it does not
 * touch, and with the kernel's read-around off each page touched would be a read of its
 * own, waited for in turn. One page is one read either way.
 */
function spansPages(address: number, length: number): boolean {
  return Math.floor(address / PAGE) !== Math.floor((address + length - 1) / PAGE);
}
/**
 * "auto" reads ahead itself only where the kernel's read-around is large (these
 * machines: 8 MiB), and then for a data file of more than this many read-arounds.
 */
const LARGE_READ_AROUND = 1 << 20;
const OWN_PAST_READ_AROUNDS = 32;

/**
 * "auto" (the default): the kernel, unless its read-around is large (LARGE_READ_AROUND)
 * and the data file more than OWN_PAST_READ_AROUNDS of them. A few read-arounds bring a
 * smaller file in whole, and reads that touch much of it (an old version's delta chains,
 * a whole file of a compacted store) gain from the large reads: the oldest of 50
 * versions of a 64 MiB file in a 104 MiB store read cold in 420-434 ms with the
 * kernel's, 512-541 with ours. In a larger file most of what a read-around brings is
 * not wanted: 2,000 random 4 KiB reads of a 512 MiB file read 395 MiB from disk, 116
 * MiB with ours; a cold `find` over 7,200 files of a 373 MB store took 369-380 ms and
 * read 106 MiB, 254-284 ms and 21 MiB with ours. Where the read-around is the usual
 * 128 KiB, the kernel's is what we would do. REVFS_LMDB_READAHEAD picks one for every
 * environment a process opens.
 */
export type ReadAheadMode = "kernel" | "own" | "auto";
export const defaultReadAheadMode = (Deno.env.get("REVFS_LMDB_READAHEAD") ?? "auto") as ReadAheadMode;

/** Whether the map of `dataFile` is read ahead by us under `mode`; if so, the kernel's read-around is turned off. */
export function takeOverReadAhead(
  dataFile: string,
  mode: ReadAheadMode,
  map: { address: Deno.PointerValue; bytes: number },
): boolean {
  let own = mode === "own";
  if (mode === "auto") {
    try {
      const { size, dev } = Deno.statSync(dataFile);
      const readAround = deviceReadAround(dev);
      own = readAround !== undefined && readAround >= LARGE_READ_AROUND && size > OWN_PAST_READ_AROUNDS * readAround;
    } catch {
      own = false;
    }
  }
  if (own) libc().madvise(map.address, BigInt(map.bytes), MADV_RANDOM);
  return own;
}

/** The read-ahead of the block device `dev` (st_dev) in bytes, as sysfs tells it; undefined for none (tmpfs, overlay). */
function deviceReadAround(dev: number): number | undefined {
  // glibc's major()/minor() of a dev_t below 2^32.
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  // A partition has no queue of its own: its disk's is one level up.
  for (const queue of ["queue", "../queue"]) {
    try {
      const kb = Number(Deno.readTextFileSync(`/sys/dev/block/${major}:${minor}/${queue}/read_ahead_kb`).trim());
      if (Number.isFinite(kb)) return kb * 1024;
    } catch {
      // Not there: try the next, or not a block device.
    }
  }
  return undefined;
}

/** [from, to) ranges in address order, those at most `gap` apart joined (the gap with them). */
export function mergeRanges(ranges: readonly [number, number][], gap: number): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [from, to] of sorted) {
    const last = out[out.length - 1];
    if (last && from - last[1] <= gap) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

function willNeed(from: number, to: number): void {
  const start = Math.floor(from / PAGE) * PAGE;
  libc().madvise(Deno.UnsafePointer.create(BigInt(start)), BigInt(to - start), MADV_WILLNEED);
}

/**
 * Reads the map ahead of use, when the kernel's read-around is off: a value's pages in
 * one request before they are touched, and when values are read in address order, the
 * next READ_AHEAD bytes too. One per environment per thread, as reads are.
 */
export class ReadAhead {
  /** `env`: the environment whose map this reads ahead (the helper thread's jobs name it). */
  constructor(private readonly env: Deno.PointerValue) {}

  private lastEnd = -1;
  private streak = 0;
  private askedFrom = 0;
  private askedTo = 0;
  /** Ranges prefetched inside `gather`, asked for at its end. */
  private gathered: [number, number][] | undefined;

  /** Before the `length` bytes at `address` in the map are read. */
  willRead(address: number, length: number): void {
    if (!spansPages(address, length)) return;
    const end = address + length;
    if (length < SEQUENTIAL_MIN) {
      // Its own pages only: not a reader of blocks in order.
      if (address < this.askedFrom || end > this.askedTo) willNeed(address, end);
      return;
    }
    const sequential = address >= this.lastEnd && address - this.lastEnd <= SEQUENTIAL_GAP;
    this.streak = sequential ? this.streak + 1 : 0;
    this.lastEnd = end;
    const asked = address >= this.askedFrom && end <= this.askedTo;
    if (this.streak >= 2) {
      // Ask for the next stretch once the reader is half way into what was asked for.
      if (asked && end < this.askedTo - READ_AHEAD / 2) return;
      // The value read now is asked for here; what follows it, on the helper thread.
      if (!asked) willNeed(address, end);
      this.willNeedLater(asked ? this.askedTo : end, end + READ_AHEAD);
      if (!asked) this.askedFrom = address;
      this.askedTo = end + READ_AHEAD;
      return;
    }
    if (asked) return;
    willNeed(address, end);
    this.askedFrom = address;
    this.askedTo = end;
  }

  /** `willNeed` on a helper thread (sys/lmdb/map_ahead.c); here when the helpers are busy. */
  private willNeedLater(from: number, to: number): void {
    const start = Math.floor(from / PAGE) * PAGE;
    const at = Deno.UnsafePointer.create(BigInt(start));
    if (lib().revfs_ahead_range(this.env, at, BigInt(to - start)) !== 0) willNeed(from, to);
  }

  /**
   * Before a value is read that a caller found ahead of reading it (a delta chain's
   * records): its pages asked for now, not waited for, so that the values of a batch are
   * read from disk together. Not a read: the sequential reader's state stays as it is.
   */
  prefetch(address: number, length: number): void {
    // A small value shares its leaf page with its key, which finding it brought in; a
    // value in overflow pages is asked for even in one page, read with the batch's others.
    if (length < LEAF_VALUE_MAX) return;
    // Already asked for, as a sequential reader's next stretch.
    if (address >= this.askedFrom && address + length <= this.askedTo) return;
    if (this.gathered) this.gathered.push([address, address + length]);
    else willNeed(address, address + length);
  }

  /**
   * Runs `fn`, holding back the values it prefetches, then asks for them in address
   * order, those within MERGE_GAP of each other as one range: a file written where freed
   * pages were reused has its records out of address order (fs/head_prefetch.ts).
   */
  gather<T>(fn: () => T): T {
    if (this.gathered) return fn();
    const ranges: [number, number][] = this.gathered = [];
    try {
      return fn();
    } finally {
      this.gathered = undefined;
      for (const [from, to] of mergeRanges(ranges, MERGE_GAP)) willNeed(from, to);
    }
  }
}
