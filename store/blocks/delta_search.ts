/**
 * Finding the delta a replaced block is stored as: its bytes compressed against each
 * candidate base in turn (its newer version first, then that version's neighbours,
 * where shifted content may have gone), the smallest frame kept, and that frame
 * decoded back before anything is written (store/blocks/block_store.ts `supersede`).
 *
 * Everything is decoded into block-sized buffers kept here: a snapshot of a file
 * rewritten in place supersedes hundreds of blocks, and fresh buffers for each were
 * 40-60 MiB of garbage a version that V8 freed late (docs/BENCHMARKS.md).
 */
import { bytesEqual } from "./hash.ts";
import type { BlockHash } from "../types.ts";
import { compressWithDict, decompressWithDict } from "./zstd.ts";

/** Below this fraction of a block, a delta is good enough: do not try other bases. */
const GOOD_DELTA = 1 / 8;

export interface Delta {
  base: BlockHash;
  /** The base's bytes (in a buffer of this search's: good until its next `best`). */
  baseData: Uint8Array;
  frame: Uint8Array;
}

export class DeltaSearch {
  /** 0: the block itself, 1 and 2: the best base so far and the next candidate, 3: the check. */
  private readonly buffers: Uint8Array[] = [];

  constructor(
    private readonly blockSize: number,
    /** A block's bytes, decoded into `into` (a block-sized buffer). */
    private readonly get: (hash: BlockHash, into: Uint8Array) => Uint8Array,
  ) {}

  /** `hash`'s bytes, in this search's buffer for them (good until the next call). */
  content(hash: BlockHash): Uint8Array {
    return this.get(hash, this.buffer(0));
  }

  /** The smallest delta of `content` (block `older`) on one of `bases`; undefined when none can be made. */
  best(older: BlockHash, content: Uint8Array, bases: BlockHash[]): Delta | undefined {
    let best: Delta | undefined;
    let slot = 1;
    for (const base of bases) {
      if (bytesEqual(base, older) || (best && bytesEqual(base, best.base))) continue;
      let baseData: Uint8Array, frame: Uint8Array;
      try {
        baseData = this.get(base, this.buffer(slot));
        frame = compressWithDict(content, baseData);
      } catch {
        continue;
      }
      if (best && frame.length >= best.frame.length) continue;
      best = { base, baseData, frame };
      // The best keeps its buffer; the next candidate goes into the other.
      slot = 3 - slot;
      if (frame.length <= this.blockSize * GOOD_DELTA) break;
    }
    return best;
  }

  /** Whether `d` decodes back to `content`: the whole read path, as its base was just read through its own chain. */
  decodesBack(d: Delta, content: Uint8Array): boolean {
    try {
      return bytesEqual(decompressWithDict(d.frame, d.baseData, this.buffer(3)), content);
    } catch {
      return false;
    }
  }

  private buffer(i: number): Uint8Array {
    return this.buffers[i] ??= new Uint8Array(this.blockSize);
  }
}
