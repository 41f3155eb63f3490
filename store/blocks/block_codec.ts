/**
 * Block records: how one block's bytes are encoded as an LMDB value. The first byte
 * says the kind (FORMAT.md, "Block records"); the rest depends on it.
 *
 * Block content is canonical before it is hashed: trailing zero bytes are removed
 * (readers zero-fill to the block or file size), so an all-zero block has no record.
 */
import { HASH_BYTES } from "./hash.ts";
import { Reader, Writer } from "../codec.ts";
import { compress, compressWithDict, ZSTD_LEVEL } from "./zstd.ts";
import { type BlockHash, RevfsError } from "../types.ts";

export type BlockRecord =
  | { kind: "raw"; data: Uint8Array }
  | { kind: "zstd"; frame: Uint8Array }
  | { kind: "zstd-dict"; dictId: number; frame: Uint8Array }
  | { kind: "delta"; base: BlockHash; frame: Uint8Array };

const KIND_BYTE = { raw: 0, zstd: 1, "zstd-dict": 2, delta: 3 } as const;

/** Below this many bytes a zstd frame's own overhead eats the gain: keep raw. */
export const MIN_COMPRESS_BYTES = 64;

/** Compress when it saves at least this fraction; else raw is cheaper to read. */
const MIN_SAVING = 1 / 32;

/** The base a stored record is a delta on; undefined for any other kind. No decoding. */
export function deltaBaseOf(stored: Uint8Array): BlockHash | undefined {
  return stored[0] === KIND_BYTE.delta ? stored.subarray(1, 1 + HASH_BYTES) as BlockHash : undefined;
}

export function isDelta(stored: Uint8Array): boolean {
  return stored[0] === KIND_BYTE.delta;
}

export function isRaw(stored: Uint8Array): boolean {
  return stored[0] === KIND_BYTE.raw;
}

/** Raw or plain zstd: decoding the record reads no other record (no dictionary, no base). */
export function decodesAlone(stored: Uint8Array): boolean {
  return stored[0] === KIND_BYTE.raw || stored[0] === KIND_BYTE.zstd;
}

/** The dictionary a stored record was compressed with; undefined when none. */
export function dictIdOf(stored: Uint8Array): number | undefined {
  return stored[0] === KIND_BYTE["zstd-dict"] ? new Reader(stored.subarray(1), "block record").uint() : undefined;
}

export function encodeBlockRecord(r: BlockRecord): Uint8Array {
  const w = new Writer().u8(KIND_BYTE[r.kind]);
  switch (r.kind) {
    case "raw":
      return w.raw(r.data).finish();
    case "zstd":
      return w.raw(r.frame).finish();
    case "zstd-dict":
      return w.uint(r.dictId).raw(r.frame).finish();
    case "delta":
      return w.raw(r.base).raw(r.frame).finish();
  }
}

export function decodeBlockRecord(bytes: Uint8Array, what: string): BlockRecord {
  const r = new Reader(bytes, what);
  const kind = r.u8();
  switch (kind) {
    case 0:
      return { kind: "raw", data: r.rest() };
    case 1:
      return { kind: "zstd", frame: r.rest() };
    case 2:
      return { kind: "zstd-dict", dictId: r.uint(), frame: r.rest() };
    case 3:
      return { kind: "delta", base: r.raw(HASH_BYTES).slice() as BlockHash, frame: r.rest() };
    default:
      throw new RevfsError("CORRUPT", `${what}: unknown block record kind ${kind}`);
  }
}

/**
 * The encoding of canonical block bytes: zstd (with the dictionary when one is
 * given) when it pays, else raw.
 */
export function encodeBlock(
  data: Uint8Array,
  dict?: { id: number; bytes: Uint8Array },
  level = ZSTD_LEVEL,
): BlockRecord {
  if (data.length >= MIN_COMPRESS_BYTES) {
    const frame = dict ? compressWithDict(data, dict.bytes, level) : compress(data, level);
    if (frame.length <= data.length * (1 - MIN_SAVING)) {
      return dict ? { kind: "zstd-dict", dictId: dict.id, frame } : { kind: "zstd", frame };
    }
  }
  return { kind: "raw", data };
}
