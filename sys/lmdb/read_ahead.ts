/**
 * Who reads LMDB's map ahead of use, and how: the kernel (its read-around: on a page
 * fault that misses the page cache, the device's readahead size around the page, 8 MiB
 * on these machines), or sys/lmdb itself ("own": the map MADV_RANDOM, then exactly a
 * value's pages before they are touched, and what follows when values are read in
 * address order). docs/BENCHMARKS.md, "LMDB through our own binding", has the numbers.
 */
import { libc } from "../libc.ts";

const PAGE = 4096;
const MADV_RANDOM = 1, MADV_WILLNEED = 3;
/** A value at most this far past the last one read continues a sequential read. */
const SEQUENTIAL_GAP = 1 << 20;
/** How far ahead of a sequential reader the map is read. */
const READ_AHEAD = 8 << 20;
/** Values this large are read ahead of being touched (overflow pages; smaller ones sit in a leaf page mdb_get touched). */
const PREFETCH_MIN = 2 * PAGE;
/** "auto" reads ahead itself for a data file larger than this. */
const OWN_FROM = 64 << 20;

/**
 * "auto": the kernel for a data file of at most OWN_FROM bytes, which a few read-arounds
 * bring in whole; ours for a larger one, where most of what a read-around brings is not
 * wanted (2,000 random 4 KiB reads of a 512 MiB file read 395 MiB from disk, 116 MiB
 * with ours). REVFS_LMDB_READAHEAD picks one for every environment a process opens.
 *
 * The default is the kernel's: in the full benchmark at 529ce73 ("auto"), reading the
 * oldest version of a 64 MiB file in a new mount after gc (a 104 MiB store) took 874 and
 * 2,041 ms against 563 and 534 at e38dbbd. A delta chain's records are read one after
 * another and not in address order, so ours asks for each alone where the read-around
 * had brought in its neighbours; asking for a chain's records together first is the
 * next step before "auto" can be the default.
 */
export type ReadAheadMode = "kernel" | "own" | "auto";
export const defaultReadAheadMode = (Deno.env.get("REVFS_LMDB_READAHEAD") ?? "kernel") as ReadAheadMode;

/** Whether the map of `dataFile` is read ahead by us under `mode`; if so, the kernel's read-around is turned off. */
export function takeOverReadAhead(
  dataFile: string,
  mode: ReadAheadMode,
  map: { address: Deno.PointerValue; bytes: number },
): boolean {
  let own = mode === "own";
  if (mode === "auto") {
    try {
      own = Deno.statSync(dataFile).size > OWN_FROM;
    } catch {
      own = false;
    }
  }
  if (own) libc().madvise(map.address, BigInt(map.bytes), MADV_RANDOM);
  return own;
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
  private lastEnd = -1;
  private streak = 0;
  private askedFrom = 0;
  private askedTo = 0;

  /** Before the `length` bytes at `address` in the map are read. */
  willRead(address: number, length: number): void {
    if (length < PREFETCH_MIN) return;
    const end = address + length;
    const sequential = address >= this.lastEnd && address - this.lastEnd <= SEQUENTIAL_GAP;
    this.streak = sequential ? this.streak + 1 : 0;
    this.lastEnd = end;
    const asked = address >= this.askedFrom && end <= this.askedTo;
    if (this.streak >= 2) {
      // Ask for the next stretch once the reader is half way into what was asked for.
      if (asked && end < this.askedTo - READ_AHEAD / 2) return;
      const from = asked ? this.askedTo : address;
      willNeed(from, end + READ_AHEAD);
      if (!asked) this.askedFrom = address;
      this.askedTo = end + READ_AHEAD;
      return;
    }
    if (asked) return;
    willNeed(address, end);
    this.askedFrom = address;
    this.askedTo = end;
  }
}
