/**
 * Packs: how compaction keeps LMDB from rounding records up to whole pages.
 *
 * LMDB keeps a value in its leaf page only up to about half a page (1,998 bytes with a
 * 32-byte key at 4 KiB pages); a longer one gets a run of overflow pages of its own,
 * rounded up to 4 KiB. A 4.5 KB delta then takes 8 KiB, and a store of such records
 * takes 1.3-1.5x their bytes however densely it is copied. Compaction therefore writes
 * the longer values of `blocks` and `pages` one after another into pack records of
 * 32 KiB (table `packs`), and puts in their place a reference to where each one is. Readers resolve references here, below the record interface: nothing above it
 * knows whether a record is packed.
 *
 * A packed record rewritten or deleted later leaves its bytes in the pack until the
 * next compaction, which copies only what is still referenced.
 */
import { Reader, u64Key, Writer } from "../codec.ts";
import { RevfsError } from "../types.ts";
import type { Table } from "./records.ts";

/** First byte of a reference: no block or page record kind uses it. */
const PACKED = 0xff;
/** Tables whose values may be packed. */
export const PACKED_TABLES: ReadonlySet<Table> = new Set<Table>(["blocks", "pages"]);
/**
 * Values at least this long are packed. Shorter ones fill leaf pages well; longer ones
 * leave a leaf written in key order half a value short on average (on the eslint
 * history: 1,900 gave a file 1.3% larger than 500; 300 no smaller than 500).
 */
export const PACK_MIN_BYTES = 500;
/** Longer values keep their own overflow pages (rounding costs them at most 4 KiB in 16). */
export const PACK_MAX_BYTES = 16 << 10;
/** Largest pack: 8 LMDB pages of 4 KiB less the 24-byte header of an overflow run (PAGEHDRSZ in lmdb-js's mdb.c). */
const PACK_BYTES = 8 * 4096 - 24;

export interface PackRef {
  pack: number;
  offset: number;
  length: number;
}

/** A reference is a tag and three varints. */
const PACK_REF_MAX_BYTES = 1 + 3 * 10;

/** Judged by length first: a longer value is a record, and its first page is not read to tell. */
export function isPackRef(value: Uint8Array): boolean {
  return value.length > 0 && value.length <= PACK_REF_MAX_BYTES && value[0] === PACKED;
}

export function encodePackRef(r: PackRef): Uint8Array {
  return new Writer().u8(PACKED).uint(r.pack).uint(r.offset).uint(r.length).finish();
}

export function decodePackRef(value: Uint8Array, what: string): PackRef {
  const r = new Reader(value, what);
  r.u8();
  return { pack: r.uint(), offset: r.uint(), length: r.uint() };
}

export function packKey(pack: number): Uint8Array {
  return u64Key(pack);
}

/** The bytes a reference names, as a view of `pack` (the pack record's value). */
export function unpack(pack: Uint8Array | undefined, ref: PackRef, what: string): Uint8Array {
  if (pack === undefined || ref.offset + ref.length > pack.length) {
    throw new RevfsError("CORRUPT", `${what}: its record is in pack ${ref.pack}, which does not hold it`);
  }
  return pack.subarray(ref.offset, ref.offset + ref.length);
}

/**
 * Packs values during a compacting copy. Values wait (`add`) until a batch commits;
 * `build` then sorts them into packs first fit decreasing, so packs fill their pages
 * to within a few bytes, and gives each value its reference. Each pack is a whole
 * number of LMDB pages less the overflow header. (Packs were kept small when a read
 * copied its whole pack; reads now see it in place, so size is only a tuning.)
 */
export class PackBuilder {
  private next = 1;
  private waiting: Uint8Array[] = [];

  /** Queues a value; returns its number in this batch. */
  add(value: Uint8Array): number {
    this.waiting.push(value);
    return this.waiting.length - 1;
  }

  /** The references of the values queued since the last build (by number), and the packs they name. */
  build(): { refs: Uint8Array[]; packs: [Uint8Array, Uint8Array][] } {
    const order = this.waiting.map((_, i) => i).sort((a, b) => this.waiting[b].length - this.waiting[a].length);
    const bins: { free: number; items: number[] }[] = [];
    for (const i of order) {
      const n = this.waiting[i].length;
      let bin = bins.find((b) => b.free >= n);
      if (!bin) bins.push(bin = { free: PACK_BYTES, items: [] });
      bin.items.push(i);
      bin.free -= n;
    }
    const refs: Uint8Array[] = new Array(this.waiting.length);
    const packs: [Uint8Array, Uint8Array][] = [];
    for (const b of bins) {
      const pack = this.next++;
      const value = new Uint8Array(PACK_BYTES - b.free);
      let at = 0;
      for (const i of b.items) {
        const v = this.waiting[i];
        value.set(v, at);
        refs[i] = encodePackRef({ pack, offset: at, length: v.length });
        at += v.length;
      }
      packs.push([packKey(pack), value]);
    }
    this.waiting = [];
    return { refs, packs };
  }
}
