/**
 * Block records: how one block's bytes are encoded as an LMDB value. The first byte
 * says the kind (FORMAT.md, "Block records"); the rest depends on it.
 *
 * Block content is canonical before it is hashed: trailing zero bytes are removed
 * (readers zero-fill to the block or file size), so an all-zero block has no record.
 *
 * Records written since format 7 check themselves: a raw record carries XXH3-64 of its
 * bytes, a zstd frame its content checksum. Older records (kinds 0-3) are checked
 * against their SHA-256 name until `optimize` re-encodes them.
 */
import { HASH_BYTES } from "./hash.ts";
import { xxh3 } from "./checksum.ts";
import { Reader, Writer } from "../codec.ts";
import { compressAtMost, hasContentChecksum, ZSTD_LEVEL } from "./zstd.ts";
import { type BlockHash, RevfsError } from "../types.ts";
import { copyBytes } from "../../sys/small_bytes.ts";

export type BlockRecord =
  | { kind: "raw"; data: Uint8Array }
  | { kind: "zstd"; frame: Uint8Array }
  | { kind: "zstd-dict"; dictId: number; frame: Uint8Array }
  | { kind: "delta"; base: BlockHash; frame: Uint8Array };

/**
 * How a record read from the store is checked: by its own checksum (XXH3-64 of a raw
 * record's bytes; a frame's content checksum, which decoding checks), or, written
 * before format 7, only by the SHA-256 of what it decodes to.
 */
export type RecordCheck = { by: "xxh3"; value: bigint } | { by: "frame" } | { by: "sha256" };

export type StoredBlockRecord = BlockRecord & { check: RecordCheck };

const KIND_BYTE = { raw: 0, zstd: 1, "zstd-dict": 2, delta: 3 } as const;
/** Added to the kind byte of records that carry their own checksum (format 7). */
const CHECKED = 4;
const XXH3_BYTES = 8;

/** Below this many bytes a zstd frame's own overhead eats the gain: keep raw. */
export const MIN_COMPRESS_BYTES = 64;

/** Compress when it saves at least this fraction; else raw is cheaper to read. */
const MIN_SAVING = 1 / 32;

/** The kind of a stored record without its checksum bit (KIND_BYTE); -1 when unknown. */
function kindOf(stored: Uint8Array): number {
  return stored[0] < 2 * CHECKED ? stored[0] % CHECKED : -1;
}

/** The base a stored record is a delta on; undefined for any other kind. No decoding. */
export function deltaBaseOf(stored: Uint8Array): BlockHash | undefined {
  return isDelta(stored) ? stored.subarray(1, 1 + HASH_BYTES) as BlockHash : undefined;
}

export function isDelta(stored: Uint8Array): boolean {
  return kindOf(stored) === KIND_BYTE.delta;
}

export function isRaw(stored: Uint8Array): boolean {
  return kindOf(stored) === KIND_BYTE.raw;
}

/** Written before format 7: checked only against its hash (optimize re-encodes it). */
export function isUnchecked(stored: Uint8Array): boolean {
  return stored[0] < CHECKED;
}

/** Raw or plain zstd: decoding the record reads no other record (no dictionary, no base). */
export function decodesAlone(stored: Uint8Array): boolean {
  const kind = kindOf(stored);
  return kind === KIND_BYTE.raw || kind === KIND_BYTE.zstd;
}

/** The dictionary a stored record was compressed with; undefined when none. */
export function dictIdOf(stored: Uint8Array): number | undefined {
  return kindOf(stored) === KIND_BYTE["zstd-dict"] ? new Reader(stored.subarray(1), "block record").uint() : undefined;
}

/**
 * A record as format 7 writes it: checked, a raw one with XXH3-64 of its bytes. Built
 * in one array of its exact size, or in `into` (a view of it) when that is large
 * enough: for a caller that stores the record at once. A Writer here grew by doubling
 * and copied out at the end, ~4 copies of a 64 KiB block into fresh mappings: a
 * quarter of a sequential write's time.
 */
export function encodeBlockRecord(r: BlockRecord, into?: Uint8Array): Uint8Array {
  const kind = KIND_BYTE[r.kind] + CHECKED;
  if (r.kind === "raw") {
    const out = recordArray(1 + XXH3_BYTES + r.data.length, into);
    out[0] = kind;
    new DataView(out.buffer, out.byteOffset + 1, XXH3_BYTES).setBigUint64(0, xxh3(r.data), true);
    out.set(r.data, 1 + XXH3_BYTES);
    return out;
  }
  // Every frame this revfs writes carries its checksum (zstd.ts); a record without one
  // would be read as damaged.
  if (!hasContentChecksum(r.frame)) throw new Error("a block record's zstd frame has no content checksum");
  const head = new Writer().u8(kind);
  if (r.kind === "zstd-dict") head.uint(r.dictId);
  if (r.kind === "delta") head.raw(r.base);
  const h = head.finish();
  const out = recordArray(h.length + r.frame.length, into);
  out.set(h);
  out.set(r.frame, h.length);
  return out;
}

function recordArray(n: number, into?: Uint8Array): Uint8Array {
  return into && into.length >= n ? into.subarray(0, n) : new Uint8Array(n);
}

export function decodeBlockRecord(bytes: Uint8Array, what: string): StoredBlockRecord {
  const r = new Reader(bytes, what);
  const byte = r.u8();
  const checked = byte >= CHECKED;
  const frameCheck = (frame: Uint8Array): RecordCheck => {
    if (!checked) return { by: "sha256" };
    if (!hasContentChecksum(frame)) throw new RevfsError("CORRUPT", `${what}: its zstd frame has no checksum`);
    return { by: "frame" };
  };
  switch (kindOf(bytes)) {
    case KIND_BYTE.raw: {
      if (!checked) return { kind: "raw", data: r.rest(), check: { by: "sha256" } };
      const sum = r.raw(XXH3_BYTES);
      const value = new DataView(sum.buffer, sum.byteOffset, XXH3_BYTES).getBigUint64(0, true);
      return { kind: "raw", data: r.rest(), check: { by: "xxh3", value } };
    }
    case KIND_BYTE.zstd: {
      const frame = r.rest();
      return { kind: "zstd", frame, check: frameCheck(frame) };
    }
    case KIND_BYTE["zstd-dict"]: {
      const dictId = r.uint();
      const frame = r.rest();
      return { kind: "zstd-dict", dictId, frame, check: frameCheck(frame) };
    }
    case KIND_BYTE.delta: {
      const base = copyBytes(r.raw(HASH_BYTES)) as BlockHash;
      const frame = r.rest();
      return { kind: "delta", base, frame, check: frameCheck(frame) };
    }
    default:
      throw new RevfsError("CORRUPT", `${what}: unknown block record kind ${byte}`);
  }
}

/**
 * The encoding of canonical block bytes: zstd (with the dictionary when one is
 * given) when it pays, else raw. A frame may be a view of a buffer the next
 * compression reuses (zstd.ts `compressAtMost`): encode the record before compressing again.
 */
export function encodeBlock(
  data: Uint8Array,
  dict?: { id: number; bytes: Uint8Array },
  level = ZSTD_LEVEL,
): BlockRecord {
  if (data.length >= MIN_COMPRESS_BYTES) {
    const frame = compressAtMost(data, Math.floor(data.length * (1 - MIN_SAVING)), dict?.bytes, level);
    if (frame) return dict ? { kind: "zstd-dict", dictId: dict.id, frame } : { kind: "zstd", frame };
  }
  return { kind: "raw", data };
}
