/**
 * Reads of the head, and of snapshots' blocks stored whole, run on the request thread
 * (fs/block_loads.ts and fs/page_cache.ts say why), so a cold read waits for the disk
 * at each record it touches unless the records were asked for first. The store reads
 * ahead in address order (sys/lmdb/read_ahead.ts), which follows a file written into a
 * new store; written where freed pages were reused, a file's
 * records are scattered: after the third 1 GiB file written and deleted in one store,
 * the next block's record came after the last one for 39% of blocks, before it for 43%.
 * So a reader of a head file in file order gets the records of its next blocks asked
 * for (VersionedStore.prefetchBlocks), in file order, whatever their addresses. They are
 * found on helper threads ("ahead", sys/lmdb/map_ahead.c): found here, the B-tree's leaf
 * pages were read one page fault at a time on the request thread.
 */
import type { BlockHash, Ino } from "../mod.ts";
import { ReadStreams } from "./read_streams.ts";

/** How far ahead of a reader in file order its blocks' records are asked for. */
const AHEAD_BYTES = 4 << 20;
/** Readers followed at once; the oldest is forgotten past this. */
const MAX_STREAMS = 16;

interface Stream {
  /** Where the next read in order starts. */
  next: number;
  /** Blocks before this index have been asked for. */
  askedTo: number;
}

export class HeadPrefetch {
  private readonly streams: ReadStreams<Ino | string, Stream>;
  asked = 0;

  constructor(
    private readonly blockSize: number,
    /** Asks the store for these blocks' records, not waiting for them. */
    private readonly prefetch: (hashes: BlockHash[]) => void,
  ) {
    this.streams = new ReadStreams(blockSize, MAX_STREAMS);
  }

  /**
   * After a read of [offset, end) of a file of `size` bytes by `reader` (a head file's
   * inode, or a name for a snapshot's file): if it continues the last read, the records
   * of the blocks up to AHEAD_BYTES past it that `wanted` names (not in memory already)
   * are asked for, once half of what was asked is read. True when the read continued
   * the last one (the reader reads in file order).
   */
  read(
    reader: Ino | string,
    offset: number,
    end: number,
    size: number,
    wanted: (idx: number) => BlockHash | null,
  ): boolean {
    const bs = this.blockSize;
    const stream = this.streams.follow(reader, offset, end, { next: end, askedTo: 0 });
    if (!stream) return false;
    const at = Math.ceil(end / bs);
    const ahead = AHEAD_BYTES / bs;
    if (stream.askedTo - at > ahead / 2) return true;
    const to = Math.min(at + ahead, Math.ceil(size / bs));
    const hashes: BlockHash[] = [];
    for (let idx = Math.max(at, stream.askedTo); idx < to; idx++) {
      const h = wanted(idx);
      if (h !== null) hashes.push(h);
    }
    stream.askedTo = to;
    if (hashes.length === 0) return true;
    this.asked += hashes.length;
    this.prefetch(hashes);
    return true;
  }

  /** A file gone or rewritten: its reader's place means nothing now. */
  forget(ino: Ino): void {
    this.streams.forget(ino);
  }
}
