/**
 * One stored block record decoded to the block's bytes and checked: by the record's own
 * checksum (zstd's, or XXH3-64 for a raw record), or against the block's SHA-256 name
 * (`checkName`). A record that does not decode or check is CORRUPT, named by its block.
 */
import type { StoredBlockRecord } from "./block_codec.ts";
import { xxh3 } from "./checksum.ts";
import type { Dictionaries } from "./dicts.ts";
import { bytesEqual, sha256, shortHex } from "./hash.ts";
import { type BlockHash, RevfsError } from "../types.ts";
import { decompress, decompressWithDict } from "./zstd.ts";

/**
 * Record `r` of block `h` decoded: a delta on `base` (the bytes of the block it is a
 * delta on), into `into` when it fits; `checked`: by the record's own checksum if it has
 * one. A raw record is read in place (LMDB's memory): copied out of it unless `copyRaw`
 * is false.
 */
export function decodeRecord(
  h: BlockHash,
  r: StoredBlockRecord,
  base: Uint8Array,
  dicts: Dictionaries,
  into: Uint8Array | undefined,
  checked: boolean,
  copyRaw = true,
): Uint8Array {
  let data: Uint8Array;
  try {
    switch (r.kind) {
      case "raw":
        data = !copyRaw ? r.data : into ? copyInto(r.data, into) : r.data.slice();
        break;
      case "zstd":
        data = decompress(r.frame, into, checked);
        break;
      case "zstd-dict":
        data = decompressWithDict(r.frame, dicts.get(r.dictId).bytes, into, checked);
        break;
      case "delta":
        data = decompressWithDict(r.frame, base, into, checked);
        break;
    }
  } catch (e) {
    if (e instanceof RevfsError) throw e;
    const why = e instanceof Error ? e.message.replace(/^zstd \w+: /, "") : String(e);
    throw corruptBlock(h, `corrupt, its ${r.kind} record does not decode (${why})`);
  }
  if (checked && r.check.by === "xxh3" && xxh3(data) !== r.check.value) {
    throw corruptBlock(h, "corrupt, its bytes do not match their checksum");
  }
  return data;
}

/** `src` copied to the start of `into` (a view of it), or to a new array when it does not fit. */
function copyInto(src: Uint8Array, into: Uint8Array): Uint8Array {
  if (into.length < src.length) return src.slice();
  const out = into.subarray(0, src.length);
  out.set(src);
  return out;
}

/** Throws unless `data` hashes to the block's name. */
export function checkName(h: BlockHash, data: Uint8Array): void {
  const actual = sha256(data);
  if (!bytesEqual(actual, h)) throw corruptBlock(h, `corrupt, its content hashes to ${shortHex(actual)}`);
}

/** A block that cannot be read as stored: EIO for its reads, named by verify. */
export function corruptBlock(hash: BlockHash, what: string): RevfsError {
  return new RevfsError("CORRUPT", what, { record: `block ${shortHex(hash)}` });
}
