/**
 * revfs library API: open or create a store, change its head, snapshot, and read any
 * revision by path. The command line (cli/) and the mount (fs/) use only what is
 * exported here: the VersionedStore interface (store/api.ts) and the types it speaks.
 */
import type { VersionedStore } from "./store/api.ts";
import type { InitOptions, OpenOptions } from "./store/store.ts";
import type { CompactResult } from "./store/maintenance/compact.ts";

export type {
  AttrChange,
  Change,
  FileInode,
  FileWriteout,
  HeadApi,
  Inode,
  LoggedWrite,
  NewNode,
  NodeInfo,
  Progress,
  RevisionTree,
  TreeView,
  VersionedStore,
} from "./store/api.ts";
export type { InitOptions, OpenOptions } from "./store/store.ts";
export { DEFAULT_BLOCK_SIZE, FORMAT_VERSION } from "./store/format.ts";

// The store's code (LMDB, zstd: 60-90 ms to load) is imported when a store is first
// opened, so a command that only talks to a running mount never loads it.
const storeCode = () => import("./store/store.ts");

/** Opens the store in `dir`; `{ write: true }` takes the writer lock. */
export async function openStore(dir: string, opts: OpenOptions = {}): Promise<VersionedStore> {
  return (await storeCode()).Store.open(dir, opts);
}

/** Creates a store in `dir`, which must be missing or empty; returns it open for writing. */
export async function initStore(dir: string, opts: InitOptions = {}): Promise<VersionedStore> {
  return (await storeCode()).Store.init(dir, opts);
}

/** Opens `dir` for writing, creating a store there when nothing exists at that path. */
export async function openOrCreateStore(
  dir: string,
  opts: Omit<OpenOptions, "write"> = {},
): Promise<VersionedStore> {
  return (await storeCode()).Store.openOrCreate(dir, opts);
}

/** Rewrites a closed store's file densely (see store/maintenance/compact.ts). */
export async function compactStore(dir: string): Promise<CompactResult> {
  return (await import("./store/maintenance/compact.ts")).compactStore(dir);
}

export { fileChunks, infoOfEntry, infoOfInode } from "./store/tree/tree_view.ts";
export { gather, rangeSegments, zeroBlock } from "./store/tree/read_range.ts";
export { hashKey } from "./store/blocks/hash_keys.ts";
export type { ChangeKind } from "./store/tree/diff.ts";
export type { XattrMode } from "./store/tree/xattrs.ts";
export type { GcResult } from "./store/maintenance/gc.ts";
export type { CompactResult } from "./store/maintenance/compact.ts";
export type { OptimizeResult } from "./store/maintenance/optimize.ts";
export type { StoreStats } from "./store/maintenance/stats.ts";
export type { VerifyReport } from "./store/maintenance/verify.ts";
export {
  type BlockHash,
  type DecodedBlock,
  type DirEntry,
  type Entry,
  type EntryType,
  type ErrorCode,
  type ErrorContext,
  type FileEntry,
  type Ino,
  type MapRoot,
  type PageHash,
  RevfsError,
  type Revision,
  type RevNumber,
  ROOT_INO,
  type SpecialType,
  type Xattrs,
} from "./store/types.ts";
