/**
 * Delta chains: the bookkeeping that keeps reverse deltas cheap to read.
 *
 * A delta record names a base block; reading it reads the base first, and so on down
 * to a whole record. Two bounds hold for every block record (FORMAT.md, "Delta
 * chains"): at most MAX_DELTA_DEPTH delta records above the whole one, and at most
 * maxChainBytes(blockSize) record bytes along the way.
 *
 * Turning a whole record R into a delta lengthens every chain that passes through R,
 * so the `chains` table keeps, per record, the longest chain *above* it (records whose
 * chains reach it): how many delta records and how many bytes. Values only ever
 * overestimate (a record later stored whole again does not lower them), which keeps
 * the bounds safe.
 */
import { Reader, Writer } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import { deltaBaseOf } from "./block_codec.ts";
import { bytesEqual } from "./hash.ts";
import type { BlockHash } from "../types.ts";

/** Delta records a read decodes at most on top of one whole record. */
export const MAX_DELTA_DEPTH = 16;

/** Record bytes a read of one block reads at most, over its whole chain. */
export function maxChainBytes(blockSize: number): number {
  return 4 * blockSize;
}

/** What lies above a record: the longest chain of deltas based on it, transitively. */
export interface Above {
  hops: number;
  bytes: number;
}

/** A record's own chain: itself and its bases down to a whole record. */
export interface Below {
  /** Delta records on the way, this one included when it is a delta. */
  hops: number;
  /** Record bytes on the way, the whole record included. */
  bytes: number;
  hashes: BlockHash[];
}

export class Chains {
  constructor(private readonly records: RecordStore) {}

  above(h: BlockHash): Above {
    const v = this.records.get("chains", h);
    if (v === undefined) return { hops: 0, bytes: 0 };
    const r = new Reader(v, "chain record");
    return { hops: r.uint(), bytes: r.uint() };
  }

  /**
   * Walks `h`'s chain down to its whole record; undefined when it is broken (a
   * missing record) or longer than any valid chain (a cycle).
   */
  below(h: BlockHash): Below | undefined {
    const hashes: BlockHash[] = [];
    let bytes = 0;
    let cur = h;
    for (;;) {
      const v = this.records.get("blocks", cur);
      if (v === undefined || hashes.length > MAX_DELTA_DEPTH + 1) return undefined;
      hashes.push(cur);
      bytes += v.length;
      const base = deltaBaseOf(v);
      if (!base) return { hops: hashes.length - 1, bytes, hashes };
      cur = base.slice() as BlockHash;
    }
  }

  /**
   * Whether whole record `r` may become a delta of `size` bytes on `base` without
   * any chain through it breaking the bounds or closing a cycle: `base`'s chain when
   * it may (for `noteDelta`), else undefined.
   */
  allows(r: BlockHash, size: number, base: BlockHash, blockSize: number): Below | undefined {
    const down = this.below(base);
    if (!down || down.hashes.some((h) => bytesEqual(h, r))) return undefined;
    const up = this.above(r);
    const fits = up.hops + 1 + down.hops <= MAX_DELTA_DEPTH &&
      up.bytes + size + down.bytes <= maxChainBytes(blockSize);
    return fits ? down : undefined;
  }

  /** Records that `r` (a delta of `size` bytes) now sits on the chain `down`: it gains what lies above `r`. */
  noteDelta(r: BlockHash, size: number, down: Below): void {
    const up = this.above(r);
    let hops = up.hops + 1;
    let bytes = up.bytes + size;
    for (const h of down.hashes) {
      const cur = this.above(h);
      if (cur.hops >= hops && cur.bytes >= bytes) break;
      this.records.put(
        "chains",
        h,
        new Writer().uint(Math.max(cur.hops, hops)).uint(Math.max(cur.bytes, bytes)).finish(),
      );
      hops++;
      bytes += this.records.get("blocks", h)!.length;
    }
  }
}
