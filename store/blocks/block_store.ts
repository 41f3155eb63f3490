/**
 * Content-addressed block records: put canonical bytes, get them back verified.
 * A block already present is not stored again; an all-zero block is never stored.
 *
 * Reverse deltas: when a snapshot replaces a block with a newer version, the older
 * record is re-encoded as a delta on the newer one (`supersede`), so the newest
 * version of a block stays whole and history costs about what changed. Re-encoding
 * keeps the hash, so nothing that refers to the block changes.
 */
import {
  type BlockRecord,
  decodeBlockRecord,
  decodesAlone,
  dictIdOf,
  encodeBlock,
  encodeBlockRecord,
  isDelta,
} from "./block_codec.ts";
import { Chains } from "./chains.ts";
import { Dictionaries } from "./dicts.ts";
import { bytesEqual, sha256, shortHex, trimmedLength } from "./hash.ts";
import type { RecordStore } from "../records/records.ts";
import { type BlockHash, RevfsError } from "../types.ts";
import { compressWithDict, decompress, decompressWithDict } from "./zstd.ts";

/** A delta is kept only when it is at most this fraction of the record it replaces. */
const DELTA_GAIN = 3 / 4;
/** Below this fraction of a block, a delta is good enough: do not try other bases. */
const GOOD_DELTA = 1 / 8;
/** Delta record header: kind byte and base hash. */
const DELTA_HEADER = 33;
const EMPTY = new Uint8Array(0);

export class BlockStore {
  /** Blocks this process has added to the store. */
  written = 0;
  /** Whether `supersede` makes deltas (off only to measure what they save). */
  deltasEnabled = true;
  readonly chains: Chains;
  readonly dicts: Dictionaries;

  constructor(private readonly records: RecordStore, private readonly blockSize: number) {
    this.chains = new Chains(records);
    this.dicts = new Dictionaries(records);
  }

  /**
   * Stores `data` (a block's bytes, any trailing zeros allowed) inside the current
   * write transaction. Returns null for an all-zero block: a hole costs nothing.
   * A block the store holds as a delta is stored whole again: it is the head's
   * newest version now, and the head does not read through chains. `kind` (a file
   * kind, store/blocks/dicts.ts) picks the trained dictionary to compress with, if any.
   */
  put(data: Uint8Array, kind = ""): BlockHash | null {
    const canonical = data.subarray(0, trimmedLength(data));
    if (canonical.length === 0) return null;
    const hash = sha256(canonical) as BlockHash;
    const existing = this.records.get("blocks", hash);
    if (existing === undefined || isDelta(existing)) {
      this.records.put("blocks", hash, encodeBlockRecord(encodeBlock(canonical, this.dicts.forKind(kind))));
      if (existing === undefined) this.written++;
    }
    return hash;
  }

  /** Hash a block the way `put` would, without storing it. */
  static hashOf(data: Uint8Array): BlockHash | null {
    const n = trimmedLength(data);
    return n === 0 ? null : sha256(data.subarray(0, n)) as BlockHash;
  }

  has(hash: BlockHash): boolean {
    return this.records.has("blocks", hash);
  }

  private record(hash: BlockHash): BlockRecord {
    const stored = this.records.get("blocks", hash);
    if (stored === undefined) throw corruptBlock(hash, "missing from the store");
    return decodeBlockRecord(stored, `block ${shortHex(hash)}`);
  }

  /**
   * Canonical bytes of a block, checked against its hash (and every base on its chain).
   * With `into` (a buffer of a block's size), a whole record is decoded straight from
   * the store's map into it and the result is a view of it: no copy of the record, no
   * new buffer.
   */
  get(hash: BlockHash, into?: Uint8Array): Uint8Array {
    if (into) {
      const stored = this.records.peek("blocks", hash);
      // Another read (a dictionary, a base) would end the view: those records take the copying path.
      if (stored !== undefined && decodesAlone(stored)) {
        return this.decodeOne(hash, decodeBlockRecord(stored, `block ${shortHex(hash)}`), EMPTY, into);
      }
    }
    const chain: [BlockHash, BlockRecord][] = [];
    for (let h = hash;;) {
      const r = this.record(h);
      chain.push([h, r]);
      if (r.kind !== "delta") break;
      // A valid chain is bounded (store/blocks/chains.ts); a longer one is a cycle.
      if (chain.length > 64) {
        throw corruptBlock(hash, "corrupt, its delta chain does not end");
      }
      h = r.base;
    }
    let data: Uint8Array = new Uint8Array(0);
    for (let i = chain.length - 1; i >= 0; i--) {
      const [h, r] = chain[i];
      data = this.decodeOne(h, r, data);
    }
    return data;
  }

  /** One record's bytes, verified. With `into`, the record is a transient view: copy out of it. */
  private decodeOne(h: BlockHash, r: BlockRecord, base: Uint8Array, into?: Uint8Array): Uint8Array {
    let data: Uint8Array;
    try {
      switch (r.kind) {
        case "raw":
          data = into ? copyInto(r.data, into) : r.data;
          break;
        case "zstd":
          data = decompress(r.frame, into);
          break;
        case "zstd-dict":
          data = decompressWithDict(r.frame, this.dicts.get(r.dictId).bytes);
          break;
        case "delta":
          data = decompressWithDict(r.frame, base);
          break;
      }
    } catch (e) {
      if (e instanceof RevfsError) throw e;
      throw corruptBlock(h, `corrupt, its ${r.kind} record does not decode`);
    }
    const actual = sha256(data);
    if (!bytesEqual(actual, h)) {
      throw corruptBlock(h, `corrupt, its content hashes to ${shortHex(actual)}`);
    }
    return data;
  }

  /** Size of the stored record, for stats. */
  storedSize(hash: BlockHash): number {
    return this.records.get("blocks", hash)?.length ?? 0;
  }

  /**
   * `older` was replaced by `newer` (same place in a file); `neighbours` are the
   * blocks next to `newer`, where shifted content may have gone. Re-encodes `older`
   * as a delta on whichever base makes it smallest, if that saves enough and the
   * chain bounds allow it. Runs inside the caller's write transaction. Returns the
   * bytes saved.
   */
  supersede(older: BlockHash, newer: BlockHash, neighbours: BlockHash[] = []): number {
    if (!this.deltasEnabled || bytesEqual(older, newer)) return 0;
    const stored = this.records.get("blocks", older);
    // Only whole records: a delta already is history, and raw tiny blocks cost nothing.
    if (stored === undefined || isDelta(stored) || stored.length <= DELTA_HEADER * 2) return 0;
    const content = this.get(older);
    let best: { base: BlockHash; baseData: Uint8Array; frame: Uint8Array } | undefined;
    for (const base of [newer, ...neighbours]) {
      if (bytesEqual(base, older) || (best && bytesEqual(base, best.base))) continue;
      let baseData: Uint8Array, frame: Uint8Array;
      try {
        baseData = this.get(base);
        frame = compressWithDict(content, baseData);
      } catch {
        continue;
      }
      if (!best || frame.length < best.frame.length) best = { base, baseData, frame };
      if (best.frame.length <= this.blockSize * GOOD_DELTA) break;
    }
    if (!best) return 0;
    const size = DELTA_HEADER + best.frame.length;
    if (size > stored.length * DELTA_GAIN) return 0;
    const chain = this.chains.allows(older, size, best.base, this.blockSize);
    if (!chain) return 0;
    // Decode the frame before it replaces a record that reads: the base was just
    // read (and checked) through its own chain, so this is the whole read path.
    try {
      if (!bytesEqual(decompressWithDict(best.frame, best.baseData), content)) return 0;
    } catch {
      return 0;
    }
    const record = encodeBlockRecord({ kind: "delta", base: best.base, frame: best.frame });
    this.records.put("blocks", older, record);
    this.chains.noteDelta(older, record.length, chain);
    return stored.length - record.length;
  }

  /** Stores a block whole if it is a delta (it is the head's again, by restore). Keeps the hash. */
  promote(hash: BlockHash): void {
    const v = this.records.get("blocks", hash);
    if (v && isDelta(v)) this.storeWhole(hash);
  }

  /** Re-encodes a block whole (gc, when its base goes away). Keeps the hash. */
  storeWhole(hash: BlockHash): void {
    const data = this.get(hash);
    this.records.put("blocks", hash, encodeBlockRecord(encodeBlock(data)));
  }

  /**
   * Re-encodes a whole record with a dictionary when that makes it smaller
   * (`optimize`). Returns the bytes saved; 0 when the record was left alone.
   */
  recompress(hash: BlockHash, dict: { id: number; bytes: Uint8Array }): number {
    const stored = this.records.get("blocks", hash);
    if (stored === undefined || isDelta(stored)) return 0;
    const data = this.get(hash);
    const record = encodeBlockRecord(encodeBlock(data, dict));
    if (record.length >= stored.length) return 0;
    this.records.put("blocks", hash, record);
    return stored.length - record.length;
  }

  /** The dictionary id of a record, or undefined when it has none. */
  dictOf(hash: BlockHash): number | undefined {
    const v = this.records.get("blocks", hash);
    return v === undefined ? undefined : dictIdOf(v);
  }
}

/** `src` copied to the start of `into` (a view of it), or to a new array when it does not fit. */
function copyInto(src: Uint8Array, into: Uint8Array): Uint8Array {
  if (into.length < src.length) return src.slice();
  const out = into.subarray(0, src.length);
  out.set(src);
  return out;
}

/** A block that cannot be read as stored: EIO for its reads, named by verify. */
function corruptBlock(hash: BlockHash, what: string): RevfsError {
  return new RevfsError("CORRUPT", what, { record: `block ${shortHex(hash)}` });
}
