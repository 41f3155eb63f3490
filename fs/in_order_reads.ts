/**
 * Reads the page cache serves on the request thread (the head's, and revisions' blocks
 * stored whole), seen as readers: one that reads a file in order has the records of its
 * next blocks asked of the disk ahead (fs/head_prefetch.ts), the compressed blocks of
 * its next reads decoded on the zstd helper thread while it is answered (BlockReads
 * `decodeAhead`: the request thread decodes a sixth of them itself rather than half),
 * and lets go of the blocks it has passed (BlockReads.passing), since it does not ask
 * for them again and the kernel keeps what it was sent. What a reader that jumps reads
 * is kept (on probation until read again: fs/clean_blocks.ts).
 */
import { type BlockHash, hashKey, type Ino } from "../mod.ts";
import type { HashOf } from "./block_loads.ts";
import type { BlockReads } from "./block_reads.ts";
import type { CleanBlocks } from "./clean_blocks.ts";
import { HeadPrefetch } from "./head_prefetch.ts";

/**
 * How many reads ahead of a reader in file order its blocks are queued for decoding on
 * the helper thread. With one, the helper had only the time of a reply to decode the
 * next read's blocks, and the request thread still decoded 28% of them itself; with two,
 * 16%; with four, 3%, but the request thread took 215 major page faults a GiB against
 * 52 (the decoding ran as far ahead as the records asked of the disk: fs/head_prefetch.ts).
 */
const DECODE_AHEAD_READS = 2;

export class InOrderReads {
  private readonly ahead: HeadPrefetch;

  constructor(
    private readonly blockSize: number,
    private readonly clean: CleanBlocks,
    private readonly loaded: BlockReads,
    /** Asks the store for these blocks' records, not waiting for them. */
    prefetch: (hashes: BlockHash[]) => void,
  ) {
    this.ahead = new HeadPrefetch(blockSize, prefetch);
  }

  /** Blocks asked for ahead of readers in order. */
  get asked(): number {
    return this.ahead.asked;
  }

  /** A file gone or rewritten: its reader's place means nothing now. */
  forget(ino: Ino): void {
    this.ahead.forget(ino);
  }

  /**
   * `now`, the read of [offset, offset + length) of a file of `size` bytes by `reader`
   * (a head file's inode, or a name for a revision's file; "" for none), as it should
   * run: the blocks it loads let go after it when the reader is in file order, but for
   * a block the read ends inside of, which the next read starts with (and lets go).
   */
  read(
    reader: Ino | string,
    offset: number,
    length: number,
    size: number,
    hashOf: HashOf,
    now: () => Uint8Array[],
  ): () => Uint8Array[] {
    if (reader === "") return now;
    const end = Math.min(offset + length, size);
    const inOrder = this.ahead.read(reader, offset, end, size, (idx) => {
      const h = hashOf(idx);
      return h !== null && !this.clean.has(hashKey(h)) ? h : null;
    });
    if (!inOrder) return now;
    const bs = this.blockSize;
    const key = (idx: number) => {
      const h = hashOf(idx);
      return h === null ? undefined : hashKey(h);
    };
    const starts = offset % bs === 0 ? undefined : key(Math.floor(offset / bs));
    const ends = end % bs === 0 || end === size ? undefined : key(Math.floor(end / bs));
    return () => {
      const segments = this.loaded.passing(now, starts === ends ? undefined : starts, ends);
      // The reader's next reads, decoded on the helper thread while this one is answered.
      this.loaded.decodeAhead(size, end, length, DECODE_AHEAD_READS, hashOf);
      return segments;
    };
  }
}
