/**
 * revfs library API: open or create a store, write the head, snapshot, and read any
 * revision by path. The CLI (cli.ts) and the mount (fs/) use only what is exported here.
 */
export {
  DEFAULT_BLOCK_SIZE,
  FORMAT_VERSION,
  type InitOptions,
  type OpenOptions,
  type Progress,
  Store,
} from "./store/store.ts";
export type { AttrChange, Head, NewNode } from "./store/head.ts";
export { exportTree, importDir, restorePath } from "./store/local_dir.ts";
export { fileChunks, infoOfEntry, infoOfInode, type NodeInfo, type TreeView } from "./store/tree_view.ts";
export type { Inode } from "./store/inode.ts";
export { gather, rangeSegments, readRange, zeroBlock } from "./store/read_range.ts";
export { hashKey } from "./store/hash.ts";
export type { Change, ChangeKind } from "./store/diff.ts";
export type { GcResult } from "./store/gc.ts";
export type { OptimizeResult } from "./store/optimize.ts";
export type { StoreStats } from "./store/stats.ts";
export type { VerifyReport } from "./store/verify.ts";
export {
  type BlockHash,
  type DirEntry,
  type Entry,
  type EntryType,
  type ErrorCode,
  type FileEntry,
  type Ino,
  type PageHash,
  RevfsError,
  type Revision,
  type RevNumber,
  ROOT_INO,
} from "./store/types.ts";
