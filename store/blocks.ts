/**
 * Content-addressed block records: put canonical bytes, get them back verified.
 * A block already present is not stored again; an all-zero block is never stored.
 */
import { decodeBlock, decodeBlockRecord, encodeBlock, encodeBlockRecord } from "./block_codec.ts";
import { bytesEqual, sha256, shortHex, trimmedLength } from "./hash.ts";
import type { RecordStore } from "./records.ts";
import { type BlockHash, RevfsError } from "./types.ts";

export class BlockStore {
  /** Blocks this process has added to the store. */
  written = 0;

  constructor(private readonly records: RecordStore) {}

  /**
   * Stores `data` (a block's bytes, any trailing zeros allowed) inside the current
   * write transaction. Returns null for an all-zero block: a hole costs nothing.
   */
  put(data: Uint8Array): BlockHash | null {
    const canonical = data.subarray(0, trimmedLength(data));
    if (canonical.length === 0) return null;
    const hash = sha256(canonical) as BlockHash;
    if (!this.records.has("blocks", hash)) {
      this.records.put("blocks", hash, encodeBlockRecord(encodeBlock(canonical)));
      this.written++;
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

  /** Canonical bytes of a block, checked against its hash. */
  get(hash: BlockHash): Uint8Array {
    const what = `block ${shortHex(hash)}`;
    const stored = this.records.get("blocks", hash);
    if (stored === undefined) throw new RevfsError("CORRUPT", `${what} is missing from the store`);
    const record = decodeBlockRecord(stored, what);
    let data: Uint8Array;
    try {
      data = decodeBlock(record, {
        dictionary: (id) => {
          throw new RevfsError("CORRUPT", `${what} needs dictionary ${id}, which this store does not have`);
        },
        block: (base) => this.get(base),
      });
    } catch (e) {
      if (e instanceof RevfsError) throw e;
      throw new RevfsError("CORRUPT", `${what} is corrupt: its ${record.kind} record does not decode`);
    }
    const actual = sha256(data);
    if (!bytesEqual(actual, hash)) {
      throw new RevfsError("CORRUPT", `${what} is corrupt: its content hashes to ${shortHex(actual)}`);
    }
    return data;
  }

  /** Size of the stored record, for stats. */
  storedSize(hash: BlockHash): number {
    return this.records.get("blocks", hash)?.length ?? 0;
  }
}
