/**
 * Content-addressed block records: put canonical bytes, get them back verified.
 * A block already present is not stored again; an all-zero block is never stored.
 *
 * Reverse deltas: when a snapshot replaces a block with a newer version, the older
 * record is re-encoded as a delta on the newer one (`supersede`), so the newest
 * version of a block stays whole and history costs about what changed. Re-encoding
 * keeps the hash, so nothing that refers to the block changes. One record decoded and
 * checked: store/blocks/record_decode.ts.
 */
import {
  decodeBlockRecord,
  deltaBaseOf,
  dictIdOf,
  encodeBlock,
  encodeBlockRecord,
  isDelta,
  isRaw,
  isUnchecked,
} from "./block_codec.ts";
import { Chains } from "./chains.ts";
import { DeltaSearch } from "./delta_search.ts";
import { frameJobs } from "./frame_jobs.ts";
import { prefetchRecords } from "./prefetch.ts";
import { Dictionaries } from "./dicts.ts";
import { bytesEqual, sha256, shortHex, trimmedLength } from "./hash.ts";
import type { RecordStore } from "../records/records.ts";
import type { BlockHash, DecodedBlock, PrefetchDepth } from "../types.ts";
import { compressWithDict, decompressWithDict, ZSTD_LEVEL } from "./zstd.ts";
import { checkName, corruptBlock, decodeRecord } from "./record_decode.ts";
import { ZstdPool } from "../../sys/zstd_pool/zstd_pool.ts";
import { DecodeAhead } from "./decode_ahead.ts";

/** A delta is kept only when it is at most this fraction of the record it replaces. */
const DELTA_GAIN = 3 / 4;
/** Delta record header: kind byte and base hash. */
const DELTA_HEADER = 33;
const EMPTY = new Uint8Array(0);

export class BlockStore {
  /** Blocks this process has added to the store. */
  written = 0;
  /** Records decoded by reads: a read of a delta chain decodes every record on it. */
  decoded = 0;
  /** Whether `supersede` makes deltas (off only to measure what they save). */
  deltasEnabled = true;
  /**
   * Whether every read also checks the block's SHA-256 name (`mount --verify-reads`,
   * `export`); else a record's own checksum is what a read checks.
   */
  hashOnRead = false;
  readonly chains: Chains;
  readonly dicts: Dictionaries;
  /** Where a delta chain's lower steps are decoded (`get`). */
  private readonly scratch: Uint8Array[] = [];

  /** Where `add` builds a record: a put copies it, and a fresh 64 KiB array costs page faults. */
  private recordBuffer?: Uint8Array;
  /** Decodes a read's zstd records on two threads (`getManyForReply`); null when it cannot. */
  private twoThreads?: ZstdPool | null;
  /** Where `supersede` finds a block's delta (store/blocks/delta_search.ts). */
  private readonly deltas: DeltaSearch;
  /** Blocks of a reader's next reads, decoded on the helper thread (`decodeAhead`). */
  private readonly ahead: DecodeAhead;

  constructor(private readonly records: RecordStore, readonly blockSize: number) {
    this.chains = new Chains(records);
    this.dicts = new Dictionaries(records);
    this.deltas = new DeltaSearch(blockSize, (h, into) => this.get(h, into));
    this.ahead = new DecodeAhead(records, this.dicts);
  }

  /**
   * Stores `data` (a block's bytes, any trailing zeros allowed) inside the current
   * write transaction. Returns null for an all-zero block: a hole costs nothing.
   * A block the store holds as a delta is stored whole again: it is the head's
   * newest version now, and the head does not read through chains. `kind` (a file
   * kind, store/blocks/dicts.ts) picks the trained dictionary to compress with, if any.
   */
  put(data: Uint8Array, kind = ""): BlockHash | null {
    return this.add(data, kind).hash;
  }

  /** `put`, saying whether the block is new to the store (`created`). */
  add(data: Uint8Array, kind = ""): { hash: BlockHash | null; created: boolean } {
    const canonical = data.subarray(0, trimmedLength(data));
    if (canonical.length === 0) return { hash: null, created: false };
    const hash = sha256(canonical) as BlockHash;
    const existing = this.records.peek("blocks", hash);
    const created = existing === undefined;
    if (created || isDelta(existing)) {
      if (!created) this.chains.wholeAgain(hash);
      const record = encodeBlockRecord(encodeBlock(canonical, this.dicts.forKind(kind)), this.recordScratch());
      this.records.put("blocks", hash, record);
      if (created) this.written++;
    }
    return { hash, created };
  }

  private recordScratch(): Uint8Array {
    // The largest record: a raw block, its kind byte and checksum.
    return this.recordBuffer ??= new Uint8Array(this.blockSize + 16);
  }

  /** Deletes a block nothing refers to (the caller knows: store/head/fresh_blocks.ts). */
  remove(hash: BlockHash): void {
    this.records.del("blocks", hash);
  }

  /** Hash a block the way `put` would, without storing it. */
  static hashOf(data: Uint8Array): BlockHash | null {
    const n = trimmedLength(data);
    return n === 0 ? null : sha256(data.subarray(0, n)) as BlockHash;
  }

  has(hash: BlockHash): boolean {
    return this.records.has("blocks", hash);
  }

  /**
   * Canonical bytes of a block, checked. With `into` (a buffer of a block's size), the
   * block is decoded into it when it fits and the result is a view of it: no copy of
   * the record, no new buffer.
   *
   * What is checked is the block as read: its record's own checksum (format 7), or
   * SHA-256 against its name for an older record, or with `hashOnRead`. A delta chain
   * is decoded up from its whole record through two scratch buffers, each record read in
   * place from the store's map: a new buffer per step cost more than the decoding. Only
   * the top step (the block asked for) is checked: a damaged lower step decodes to other
   * bytes and the block's own check fails (`verify` checks every record under its own
   * name). XXH64 at each lower step was half of its decode (19 us against 9 for a 64 KiB delta).
   */
  get(hash: BlockHash, into?: Uint8Array): Uint8Array {
    return this.read(hash, into, this.hashOnRead);
  }

  /**
   * `get` for a reply sent before the current task yields: a block stored as it is (a
   * raw record) is checked and answered as a view of the store's memory, not copied
   * (`inPlace`); any other record is decoded as `get` does, from the same lookup, into
   * the buffer `into` gives (asked only then). With
   * `hashOnRead` nothing is in place: a copy kept in a cache is hashed once rather than
   * at every read. A view is good until the current task yields or the store is
   * written: long enough to hand it to the kernel, never to keep.
   */
  getForReply(hash: BlockHash, into: () => Uint8Array): { data: Uint8Array; inPlace: boolean } {
    const whole = this.stored(hash);
    if (this.hashOnRead || !isRaw(whole)) {
      return { data: this.read(hash, into(), this.hashOnRead, whole), inPlace: false };
    }
    const record = decodeBlockRecord(whole, `block ${shortHex(hash)}`);
    const data = decodeRecord(hash, record, EMPTY, this.dicts, undefined, true, false);
    this.decoded++;
    if (record.check.by === "sha256") checkName(hash, data);
    return { data, inPlace: true };
  }

  /**
   * `getForReply` for a read's blocks at once: the zstd records among them (with or
   * without a dictionary) are decoded on two threads (sys/zstd_pool) into buffers
   * `into` gives, the rest left to `getForReply` (undefined: raw records, answered in
   * place; deltas; records checked by name). A frame that fails there is decoded again
   * here, which says why.
   */
  getManyForReply(hashes: readonly BlockHash[], into: () => Uint8Array): (Uint8Array | undefined)[] {
    const out: (Uint8Array | undefined)[] = hashes.map(() => undefined);
    const pool = this.pool();
    if (!pool) return out;
    const { jobs, at } = frameJobs(this.records.peekAll("blocks", hashes), hashes, this.dicts, into);
    pool.decode(jobs).forEach((n, k) => {
      const i = at[k];
      out[i] = n === undefined ? this.read(hashes[i], jobs[k].into, false) : jobs[k].into.subarray(0, n);
      this.decoded++;
    });
    return out;
  }

  /** `DecodeAhead.queue`: nothing is queued without the two-thread decoder. */
  decodeAhead(hashes: readonly BlockHash[], into: () => Uint8Array): void {
    const pool = this.pool();
    if (pool) this.ahead.queue(pool, hashes, into);
  }

  /** `DecodeAhead.collect`. */
  collectAhead(wanted: readonly BlockHash[]): DecodedBlock[] {
    const out = this.ahead.collect(wanted);
    this.decoded += out.length;
    return out;
  }

  /**
   * Whether none of these blocks is a delta (a missing one is left to the read that
   * reports it). Those looked up ahead of their read are known already (DecodeAhead).
   */
  storedWhole(hashes: readonly BlockHash[]): boolean {
    const unknown = hashes.filter((h) => !this.ahead.isWhole(h));
    return unknown.length === 0 || this.records.peekAll("blocks", unknown).every((s) => s === undefined || !isDelta(s));
  }

  /** The two-thread decoder, when there is one and reads are checked by their records alone. */
  private pool(): ZstdPool | undefined {
    this.twoThreads ??= ZstdPool.open() ?? null;
    return this.twoThreads && !this.hashOnRead ? this.twoThreads : undefined;
  }

  /** Tells the store these blocks are read next (store/blocks/prefetch.ts). */
  prefetch(hashes: readonly BlockHash[], depth: PrefetchDepth = "chains"): void {
    prefetchRecords(this.records, hashes, depth);
  }

  /** `get`, always checked against the block's SHA-256 name (`verify`). */
  getVerified(hash: BlockHash): Uint8Array {
    return this.read(hash, undefined, true);
  }

  /** `whole`: `hash`'s record, when the caller has looked it up already. */
  private read(hash: BlockHash, into: Uint8Array | undefined, byName: boolean, whole = this.stored(hash)): Uint8Array {
    const chain: BlockHash[] = [hash];
    // The chain's whole record, read last: decoded first, from this same view.
    for (;;) {
      const base = deltaBaseOf(whole);
      if (!base) break;
      // A valid chain is bounded (store/blocks/chains.ts); a longer one is a cycle.
      if (chain.length > 64) throw corruptBlock(hash, "corrupt, its delta chain does not end");
      chain.push(base.slice() as BlockHash);
      whole = this.stored(chain[chain.length - 1]);
    }
    let data: Uint8Array = EMPTY;
    for (let i = chain.length - 1; i >= 0; i--) {
      const h = chain[i];
      const out = i === 0 ? into : this.scratch[i % 2] ??= new Uint8Array(this.blockSize);
      const stored = i === chain.length - 1 ? whole : this.stored(h);
      const record = decodeBlockRecord(stored, `block ${shortHex(h)}`);
      data = decodeRecord(h, record, data, this.dicts, out, i === 0);
      this.decoded++;
      if (i === 0 && (byName || record.check.by === "sha256")) checkName(h, data);
    }
    return data;
  }

  /**
   * A block's record in place (LMDB's memory; the view lasts until the next read). A
   * record compressed with a dictionary has its dictionary loaded first, since loading
   * it may be that next read: then the record is looked up again. (Copying such records
   * instead made 40-60 MiB of garbage for each snapshot of a 64 MiB file rewritten 1%.)
   */
  private stored(hash: BlockHash): Uint8Array {
    let view = this.records.peek("blocks", hash);
    if (view === undefined) throw corruptBlock(hash, "missing from the store");
    const dictId = dictIdOf(view);
    if (dictId === undefined) return view;
    this.dicts.get(dictId);
    view = this.records.peek("blocks", hash);
    if (view === undefined) throw corruptBlock(hash, "missing from the store");
    return view;
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
    const stored = this.records.peek("blocks", older);
    // Only whole records: a delta already is history, and raw tiny blocks cost nothing.
    if (stored === undefined || isDelta(stored) || stored.length <= DELTA_HEADER * 2) return 0;
    const storedLength = stored.length;
    const content = this.deltas.content(older);
    const best = this.deltas.best(older, content, [newer, ...neighbours]);
    if (!best) return 0;
    const size = DELTA_HEADER + best.frame.length;
    if (size > storedLength * DELTA_GAIN) return 0;
    const chain = this.chains.allows(older, size, best.base, this.blockSize);
    if (!chain) return 0;
    // Decode the frame before it replaces a record that reads.
    if (!this.deltas.decodesBack(best, content)) return 0;
    const record = encodeBlockRecord({ kind: "delta", base: best.base, frame: best.frame }, this.recordScratch());
    this.records.put("blocks", older, record);
    this.chains.noteDelta(older, record.length, chain);
    return storedLength - record.length;
  }

  /** Stores a block whole if it is a delta (it is the head's again, by restore). Keeps the hash. */
  promote(hash: BlockHash): void {
    const v = this.records.get("blocks", hash);
    if (v && isDelta(v)) this.storeWhole(hash);
  }

  /** Re-encodes a block whole (gc, when its base goes away). Keeps the hash. */
  storeWhole(hash: BlockHash): void {
    const data = this.get(hash);
    this.chains.wholeAgain(hash);
    this.records.put("blocks", hash, encodeBlockRecord(encodeBlock(data)));
  }

  /**
   * Re-encodes a whole record with a dictionary when that makes it smaller
   * (`optimize`). Returns the bytes saved; 0 when the record was left alone. A record
   * written before format 7 is always re-encoded, so that it checks itself (the result
   * may then be a few bytes larger: negative).
   */
  recompress(hash: BlockHash, dict: { id: number; bytes: Uint8Array } | undefined, level = ZSTD_LEVEL): number {
    const stored = this.records.get("blocks", hash);
    if (stored === undefined || isDelta(stored)) return 0;
    const convert = isUnchecked(stored);
    // A raw record did not compress at level 3: only a dictionary may change that.
    if (isRaw(stored) && !dict && !convert) return 0;
    const data = this.get(hash);
    const record = encodeBlockRecord(encodeBlock(data, dict, level));
    if (record.length >= stored.length && !convert) return 0;
    this.records.put("blocks", hash, record);
    return stored.length - record.length;
  }

  /**
   * Re-encodes a delta record's frame at `level` against the same base, when that makes
   * it smaller or the record is older than format 7 (`optimize`). Same base, so every
   * chain keeps its shape. Returns the bytes saved (negative: a conversion that grew).
   */
  recompressDelta(hash: BlockHash, level: number): number {
    const stored = this.records.get("blocks", hash);
    const base = stored && deltaBaseOf(stored)?.slice() as BlockHash | undefined;
    if (stored === undefined || base === undefined) return 0;
    const data = this.get(hash);
    const baseData = this.get(base);
    const frame = compressWithDict(data, baseData, level);
    const record = encodeBlockRecord({ kind: "delta", base, frame });
    if (record.length >= stored.length && !isUnchecked(stored)) return 0;
    // Read back before it replaces a record that reads, as `supersede` does.
    if (!bytesEqual(decompressWithDict(frame, baseData), data)) return 0;
    // A converted record may grow by its checksum: chains through it read those bytes too.
    if (record.length > stored.length) this.chains.grew(hash, record.length - stored.length);
    this.records.put("blocks", hash, record);
    return stored.length - record.length;
  }

  /** The dictionary id of a record, or undefined when it has none. */
  dictOf(hash: BlockHash): number | undefined {
    const v = this.records.get("blocks", hash);
    return v === undefined ? undefined : dictIdOf(v);
  }
}
