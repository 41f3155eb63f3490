/**
 * Finding, creating and checking a store directory: what is refused before a store is
 * opened (not a store, a newer format, locked by another writer) and what `init`
 * writes. The format version is here; store/FORMAT.md documents each version.
 */
import { initZstd } from "./blocks/zstd.ts";
import { initChecksums } from "./blocks/checksum.ts";
import { shortenChainKeys } from "./blocks/chains.ts";
import { toHex } from "./blocks/hash.ts";
import { readU64, u64Key, utf8, utf8d } from "./codec.ts";
import { HEAD_PARENT_KEY } from "./head/snapshot.ts";
import { LMDB_DATA_FILE, LmdbRecordStore } from "./records/lmdb_backend.ts";
import { AccessLock, WriterLock } from "./records/lock.ts";
import { removeLeftoverCompaction } from "./records/lmdb_compact.ts";
import type { RecordStore } from "./records/records.ts";
import { RevfsError } from "./types.ts";
import type { ReadAheadMode } from "../sys/lmdb/read_ahead.ts";

import { DEFAULT_BLOCK_SIZE, FORMAT_VERSION } from "./format.ts";

export { DEFAULT_BLOCK_SIZE, FORMAT_VERSION };
const MAGIC = "revfs store";

const META = {
  magic: utf8.encode("magic"),
  format: utf8.encode("format"),
  storeId: utf8.encode("storeId"),
  blockSize: utf8.encode("blockSize"),
} as const;

export interface OpenOptions {
  /** Take the writer lock; fails with STORE_LOCKED while another writer has it. */
  write?: boolean;
  /**
   * Check every block read against its SHA-256 name, not only its record's own checksum
   * (`mount --verify-reads`, `export`).
   */
  verifyReads?: boolean;
  /** Who reads the store's file ahead of use (sys/lmdb/read_ahead.ts); tests choose. */
  readAhead?: ReadAheadMode;
}

export interface InitOptions {
  blockSize?: number;
}

/** An open store's records, its writer lock when opened for writing, and its hold against compaction. */
export interface OpenedRecords {
  records: LmdbRecordStore;
  lock: WriterLock | null;
  access: AccessLock | null;
}

function isDir(path: string): boolean | undefined {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What every store records when it is made. */
export function storeMeta(records: RecordStore): { blockSize: number; storeId: string } {
  return {
    blockSize: readU64(records.get("meta", META.blockSize)!),
    storeId: toHex(records.get("meta", META.storeId)!),
  };
}

/** Makes a new store's records in `dir`, which must be missing or empty; locked for writing. */
export async function createRecords(dir: string, opts: InitOptions): Promise<OpenedRecords> {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(Math.log2(blockSize)) || blockSize < 4096 || blockSize > 1 << 24) {
    throw new RevfsError("INVALID", `block size must be a power of two from 4096 to 16 MiB, not ${blockSize}`);
  }
  const kind = isDir(dir);
  if (kind === false) throw new RevfsError("STORE_EXISTS", `${dir} exists and is not a directory`);
  if (kind === true && exists(`${dir}/${LMDB_DATA_FILE}`)) {
    throw new RevfsError("STORE_EXISTS", `${dir} already holds a store`);
  }
  Deno.mkdirSync(dir, { recursive: true });
  if ([...Deno.readDirSync(dir)].length > 0) {
    throw new RevfsError("STORE_EXISTS", `${dir} is not empty; a new store needs an empty or missing directory`);
  }
  await Promise.all([initZstd(), initChecksums()]);
  const lock = WriterLock.tryAcquire(dir);
  if (!lock) throw new RevfsError("STORE_LOCKED", `${dir} is being initialised by another process`);
  const access = AccessLock.shared(dir);
  const records = LmdbRecordStore.open(dir, { create: true });
  const id = crypto.getRandomValues(new Uint8Array(16));
  records.write(() => {
    records.put("meta", META.format, u64Key(FORMAT_VERSION));
    records.put("meta", META.storeId, id);
    records.put("meta", META.blockSize, u64Key(blockSize));
    records.put("meta", HEAD_PARENT_KEY, u64Key(0));
    // Magic last: a store interrupted during init is refused, never half-read.
    records.put("meta", META.magic, utf8.encode(MAGIC));
  });
  return { records, lock, access };
}

/** Opens an existing store's records, refusing what is not a store or is of a newer format. */
export async function openRecords(dir: string, opts: OpenOptions): Promise<OpenedRecords> {
  const kind = isDir(dir);
  if (kind === undefined) {
    throw new RevfsError("NOT_A_STORE", `no store at ${dir} (create one with: revfs init ${dir})`);
  }
  if (kind === false) throw new RevfsError("NOT_A_STORE", `${dir} is not a revfs store (it is not a directory)`);
  if (!exists(`${dir}/${LMDB_DATA_FILE}`)) {
    throw new RevfsError("NOT_A_STORE", `${dir} is not a revfs store (no ${LMDB_DATA_FILE})`);
  }
  await Promise.all([initZstd(), initChecksums()]);
  let lock: WriterLock | null = null;
  if (opts.write) {
    lock = WriterLock.tryAcquire(dir);
    if (!lock) {
      throw new RevfsError(
        "STORE_LOCKED",
        `store ${dir} is in use by another writer (a running mount or another revfs command)`,
      );
    }
  }
  // Waits while a compaction replaces the data file.
  const access = AccessLock.shared(dir);
  if (lock) removeLeftoverCompaction(dir);
  let records: LmdbRecordStore;
  try {
    records = LmdbRecordStore.open(dir, { readAhead: opts.readAhead });
  } catch (e) {
    lock?.release();
    access?.release();
    if (e instanceof RevfsError) throw e;
    throw new RevfsError("NOT_A_STORE", `${dir} is not a readable revfs store: ${(e as Error).message}`);
  }
  try {
    const magic = records.get("meta", META.magic);
    if (!magic || utf8d.decode(magic) !== MAGIC) {
      throw new RevfsError("NOT_A_STORE", `${dir} is not a revfs store (an LMDB environment without revfs metadata)`);
    }
    const format = readU64(records.get("meta", META.format)!);
    if (format > FORMAT_VERSION) {
      throw new RevfsError(
        "NEWER_FORMAT",
        `store ${dir} has format ${format}; this revfs reads up to format ${FORMAT_VERSION}: upgrade revfs`,
      );
    }
    // An older format is this one without what came later (block deltas and chains in
    // 2, page deltas in 3, ...): a writer relabels it, so an older revfs (which would
    // not read what it then writes) refuses it from then on. Only the `chains` table
    // changes layout (format 6: short keys); readers never use it.
    if (lock && format < FORMAT_VERSION) {
      records.write(() => {
        shortenChainKeys(records);
        records.put("meta", META.format, u64Key(FORMAT_VERSION));
      });
    }
    return { records, lock, access };
  } catch (e) {
    await records.close();
    lock?.release();
    access?.release();
    throw e;
  }
}
