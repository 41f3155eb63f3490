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
 *
 * Tree pages have delta chains too (store/tree/pages.ts), under the same bounds; their
 * entries in `chains` are keyed by "p" and the page hash, apart from blocks' keys.
 */
import { Reader, Writer } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import { deltaBaseOf } from "./block_codec.ts";
import { bytesEqual } from "./hash.ts";
import type { PageHash } from "../types.ts";

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
  /** Bytes of the whole record at the bottom. */
  wholeBytes: number;
  hashes: Uint8Array[];
}

/** What a chain is made of: block records, or page records. */
export interface ChainKind {
  table: "blocks" | "pages";
  /** The base a record is a delta on; undefined for a whole record. */
  baseOf(record: Uint8Array): Uint8Array | undefined;
  /** The record's key in the `chains` table. */
  chainKey(hash: Uint8Array): Uint8Array;
}

export const BLOCK_CHAINS: ChainKind = { table: "blocks", baseOf: deltaBaseOf, chainKey: (h) => h };

const PAGE_KEY_PREFIX = 0x70; // "p"

/** A page's key in the `chains` table: "p" and its hash, apart from every block's. */
export function pageChainKey(h: PageHash | Uint8Array): Uint8Array {
  const k = new Uint8Array(h.length + 1);
  k[0] = PAGE_KEY_PREFIX;
  k.set(h, 1);
  return k;
}

export class Chains {
  constructor(private readonly records: RecordStore, private readonly kind: ChainKind = BLOCK_CHAINS) {}

  above(h: Uint8Array): Above {
    const v = this.records.get("chains", this.kind.chainKey(h));
    if (v === undefined) return { hops: 0, bytes: 0 };
    const r = new Reader(v, "chain record");
    return { hops: r.uint(), bytes: r.uint() };
  }

  /**
   * Walks `h`'s chain down to its whole record; undefined when it is broken (a
   * missing record) or longer than any valid chain (a cycle).
   */
  below(h: Uint8Array): Below | undefined {
    const hashes: Uint8Array[] = [];
    let bytes = 0;
    let cur = h;
    for (;;) {
      const v = this.records.get(this.kind.table, cur);
      if (v === undefined || hashes.length > MAX_DELTA_DEPTH + 1) return undefined;
      hashes.push(cur);
      bytes += v.length;
      const base = this.kind.baseOf(v);
      if (!base) return { hops: hashes.length - 1, bytes, wholeBytes: v.length, hashes };
      cur = base.slice();
    }
  }

  /**
   * Whether whole record `r` may become a delta of `size` bytes on `base` without
   * any chain through it breaking the bounds or closing a cycle: `base`'s chain when
   * it may (for `noteDelta`), else undefined. `unit` is the block size, or for pages
   * what the whole record at the bottom of the chain makes it (pageChainUnit).
   */
  allows(
    r: Uint8Array,
    size: number,
    base: Uint8Array,
    unit: number | ((wholeBytes: number) => number),
  ): Below | undefined {
    const down = this.below(base);
    if (!down || down.hashes.some((h) => bytesEqual(h, r))) return undefined;
    const up = this.above(r);
    const u = typeof unit === "number" ? unit : unit(down.wholeBytes);
    const fits = up.hops + 1 + down.hops <= MAX_DELTA_DEPTH &&
      up.bytes + size + down.bytes <= maxChainBytes(u);
    return fits ? down : undefined;
  }

  /** Records that `r` (a delta of `size` bytes) now sits on the chain `down`: it gains what lies above `r`. */
  noteDelta(r: Uint8Array, size: number, down: Below): void {
    const up = this.above(r);
    let hops = up.hops + 1;
    let bytes = up.bytes + size;
    for (const h of down.hashes) {
      const cur = this.above(h);
      if (cur.hops >= hops && cur.bytes >= bytes) break;
      this.records.put(
        "chains",
        this.kind.chainKey(h),
        new Writer().uint(Math.max(cur.hops, hops)).uint(Math.max(cur.bytes, bytes)).finish(),
      );
      hops++;
      bytes += this.records.get(this.kind.table, h)!.length;
    }
  }
}
