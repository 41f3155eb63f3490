/**
 * Delta chains: the bookkeeping that keeps reverse deltas cheap to read.
 *
 * A delta record names a base block; reading it reads the base first, and so on down
 * to a whole record. Two bounds hold for every block record (FORMAT.md, "Delta
 * chains"): at most MAX_DELTA_DEPTH delta records above the whole one, and at most
 * maxChainBytes(blockSize) record bytes along the way.
 *
 * Turning a whole record R into a delta lengthens every chain that passes through R,
 * so the `chains` table keeps, per whole record, the longest chain *above* it (records
 * whose chains reach it): how many delta records and how many bytes. Values only ever
 * overestimate (a record later stored whole again does not lower them), which keeps
 * the bounds safe. Only whole records have entries (format 9): only they can become
 * deltas, and a delta stored whole again gets one from the record at the bottom of its
 * chain (`wholeAgain`). Most records of a long history are deltas; an entry each was a
 * twentieth of a small-record store's file.
 *
 * Tree pages have delta chains too (store/tree/pages.ts), with their own bounds; their
 * entries in `chains` are keyed by "p" and the page hash, apart from blocks' keys.
 *
 * An entry is keyed by the first CHAIN_KEY_BYTES of the hash (format 6), not all 32:
 * the table has an entry for almost every delta, and on stores of small records the
 * full keys were a few percent of the file. Two records sharing a key share an entry,
 * which only overestimates; at 96 bits that takes some 10^14 records.
 */
import { Reader, Writer } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import { deltaBaseOf } from "./block_codec.ts";
import { bytesEqual } from "./hash.ts";
import type { PageHash } from "../types.ts";
import { smallBytes } from "../../sys/small_bytes.ts";

/** Delta records a read of a block decodes at most on top of one whole record. */
export const MAX_DELTA_DEPTH = 16;

/**
 * ... and of a tree page (format 6). Pages are small and read once into the page
 * cache; with 16, a directory changed in every snapshot was stored whole every 17th
 * version, which was most of what its history cost.
 */
export const MAX_PAGE_DELTA_DEPTH = 64;

/** Bytes of a hash that key its `chains` entry (format 6). */
const CHAIN_KEY_BYTES = 12;

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
  /** Delta records on a chain at most. */
  maxHops: number;
}

/** A block's key in the `chains` table. */
export function blockChainKey(h: Uint8Array): Uint8Array {
  return h.slice(0, CHAIN_KEY_BYTES);
}

const PAGE_KEY_PREFIX = 0x70; // "p"

/** A page's key in the `chains` table: "p" and its hash, apart from every block's. */
export function pageChainKey(h: PageHash | Uint8Array): Uint8Array {
  const k = smallBytes(CHAIN_KEY_BYTES);
  k[0] = PAGE_KEY_PREFIX;
  k.set(h.subarray(0, CHAIN_KEY_BYTES - 1), 1);
  return k;
}

export const BLOCK_CHAINS: ChainKind = {
  table: "blocks",
  baseOf: deltaBaseOf,
  chainKey: blockChainKey,
  maxHops: MAX_DELTA_DEPTH,
};

/**
 * Rewrites the `chains` entries of a store older than format 6 under their short keys
 * (merged by taking the larger values). Inside a write transaction.
 */
export function shortenChainKeys(records: RecordStore): number {
  const long = [...records.range("chains")].filter(([k]) => k.length > CHAIN_KEY_BYTES).map((
    [k, v],
  ) => [k.slice(), v.slice()]);
  for (const [k, v] of long) {
    const key = k.length === 32 ? blockChainKey(k) : pageChainKey(k.subarray(1));
    const a = new Reader(v, "chain record");
    let hops = a.uint(), bytes = a.uint();
    const cur = records.get("chains", key);
    if (cur !== undefined) {
      const b = new Reader(cur, "chain record");
      hops = Math.max(hops, b.uint());
      bytes = Math.max(bytes, b.uint());
    }
    records.del("chains", k);
    records.put("chains", key, new Writer().uint(hops).uint(bytes).finish());
  }
  return long.length;
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
      // A view: only its length and base are read, before the next call into the records.
      const v = this.records.peek(this.kind.table, cur);
      if (v === undefined || hashes.length > this.kind.maxHops + 1) return undefined;
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
    const fits = up.hops + 1 + down.hops <= this.kind.maxHops &&
      up.bytes + size + down.bytes <= maxChainBytes(u);
    return fits ? down : undefined;
  }

  /**
   * Records that `r` (a delta of `size` bytes) now sits on the chain `down`: the whole
   * record at its bottom gains what lies above `r`, and `r`, no longer whole, loses its
   * entry.
   */
  noteDelta(r: Uint8Array, size: number, down: Below): void {
    const up = this.above(r);
    const bottom = down.hashes[down.hashes.length - 1];
    this.raise(bottom, { hops: up.hops + 1 + down.hops, bytes: up.bytes + size + down.bytes - down.wholeBytes });
    this.records.del("chains", this.kind.chainKey(r));
  }

  /**
   * Gives delta `h`, about to be stored whole again, its entry: every chain through `h`
   * goes on to the whole record at its bottom, whose entry bounds it, less the part
   * from `h` down. A broken chain gives the bounds themselves: `h` then never becomes a
   * delta again.
   */
  wholeAgain(h: Uint8Array): void {
    const down = this.below(h);
    if (!down) return this.raise(h, { hops: this.kind.maxHops, bytes: 0 });
    if (down.hops === 0) return;
    const atBottom = this.above(down.hashes[down.hashes.length - 1]);
    this.raise(h, {
      hops: Math.max(0, atBottom.hops - down.hops),
      bytes: Math.max(0, atBottom.bytes - (down.bytes - down.wholeBytes)),
    });
  }

  /** Delta `h`'s record grows by `bytes`: every chain through it reads them, so its bottom's entry counts them. */
  grew(h: Uint8Array, bytes: number): void {
    const down = this.below(h);
    if (!down || down.hops === 0) return;
    const bottom = down.hashes[down.hashes.length - 1];
    const at = this.above(bottom);
    this.raise(bottom, { hops: at.hops, bytes: at.bytes + bytes });
  }

  /** Whether `h`'s chain (`down`, from `below`) is longer than its bottom's entry says: a damaged `chains` table. */
  understates(down: Below): boolean {
    if (down.hops === 0) return false;
    const at = this.above(down.hashes[down.hashes.length - 1]);
    return at.hops < down.hops || at.bytes < down.bytes - down.wholeBytes;
  }

  private raise(h: Uint8Array, to: Above): void {
    const cur = this.above(h);
    if (cur.hops >= to.hops && cur.bytes >= to.bytes) return;
    this.records.put(
      "chains",
      this.kind.chainKey(h),
      new Writer().uint(Math.max(cur.hops, to.hops)).uint(Math.max(cur.bytes, to.bytes)).finish(),
    );
  }
}

/**
 * Deletes the entries of records that are not whole (kept by stores before format 9)
 * or no longer exist; `wholeKeys` are the chain keys of every whole record, blocks and
 * pages. Inside a write transaction. Returns how many went.
 */
export function pruneChains(records: RecordStore, wholeKeys: Set<string>, keyOf: (k: Uint8Array) => string): number {
  const stale = [...records.keys("chains")].filter((k) => !wholeKeys.has(keyOf(k))).map((k) => k.slice());
  for (const k of stale) records.del("chains", k);
  return stale.length;
}
