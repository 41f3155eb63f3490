/**
 * The versioned store as its users see it: the mount (fs/), the command line (cli/)
 * and library users speak only this (mod.ts exports it). The store owns its
 * transactions: a head change is atomic and seen at once, and commits as documented
 * on each method; nothing here hands out a record, a table or a transaction.
 */
import type { Change } from "./tree/diff.ts";
import type { NodeInfo, RevisionTree, TreeView } from "./tree/tree_view.ts";
import type { FileWriteout } from "./head/file_blocks.ts";
import type { FileInode, Inode } from "./head/inode.ts";
import type { AttrChange, NewNode } from "./head/namespace.ts";
import type { XattrMode } from "./tree/xattrs.ts";
import type { LoggedWrite } from "./head/write_log.ts";
import type { GcResult } from "./maintenance/gc.ts";
import type { OptimizeResult } from "./maintenance/optimize.ts";
import type { StoreStats } from "./maintenance/stats.ts";
import type { VerifyReport } from "./maintenance/verify.ts";
import type {
  BlockHash,
  DecodedBlock,
  EntryType,
  FileEntry,
  Ino,
  PrefetchDepth,
  Revision,
  RevNumber,
} from "./types.ts";

export type {
  AttrChange,
  Change,
  FileInode,
  FileWriteout,
  Inode,
  LoggedWrite,
  NewNode,
  NodeInfo,
  RevisionTree,
  TreeView,
};

/** Called as long work goes on: `done` of `total` items or bytes. */
export type Progress = (done: number, total: number) => void;

/**
 * The head: the read-write tree a mount serves. Namespace changes (create, remove,
 * rename, setattr, unpin) are group-committed: made at once and visible to every
 * reader, committed with the next writeout, `commit`, `flush` or snapshot (or when
 * enough are pending). One fsync'd commit per create was most of a create's time.
 */
export interface HeadApi {
  inode(ino: Ino): Inode | undefined;
  lookup(parent: Ino, name: string): Ino | undefined;
  /** Names in a directory, in byte order of their UTF-8 encoding, with each one's inode and type. */
  readdir(dir: Ino): Iterable<[string, Ino, EntryType]>;
  /**
   * Hash of block `index` of a file as the head holds it; null for a hole. Ask
   * `inlineBlock` first for block 0 of an `inline` file: such a block has no record.
   */
  blockHash(f: FileInode, index: number): BlockHash | null;
  /** Block 0 of a small file kept in its directory's last snapshot; undefined when it is not. */
  inlineBlock(f: FileInode): Uint8Array | undefined;
  /** The blocks of a file that are not holes, in index order (an inline block 0 included, by its hash). */
  presentBlocks(f: FileInode): [number, BlockHash][];

  create(parent: Ino, name: string, node: NewNode): Inode;
  /** Removes a file or symlink name (`dir: false`) or an empty directory (`dir: true`). */
  remove(parent: Ino, name: string, dir: boolean): void;
  /** Moves a name, replacing a file, symlink or empty directory at the target. */
  rename(parent: Ino, name: string, newParent: Ino, newName: string): void;
  /** Gives a file, symlink or special node one more name (a hard link); returns it as changed. */
  link(ino: Ino, newParent: Ino, newName: string): Inode;
  setattr(ino: Ino, change: AttrChange): Inode;
  /** A file was read at `nowNs`: its access time, relatime-style (group-committed, often nothing). */
  accessed(ino: Ino, nowNs: bigint): void;
  /**
   * Sets (`value` null: removes) one extended attribute; EXISTS, NO_XATTR and NO_SPACE
   * as setxattr(2) and removexattr(2) fail. An inode's attributes are in `inode(ino).xattrs`.
   */
  setXattr(ino: Ino, name: string, value: Uint8Array | null, mode: XattrMode): Inode;

  /** Keeps an inode alive while it is open, even after its last name is removed. */
  pin(ino: Ino): void;
  /** Undoes one `pin`; an unnamed inode is freed with its last pin (then true). */
  unpin(ino: Ino): boolean;
  /** Frees inodes a previous writer left open and unnamed; returns how many. */
  sweepOrphans(): number;

  /**
   * Points blocks of a file at blocks already in the store, growing it to at least
   * `size` (a reflink copy). The blocks must have records: not an inline file's block 0.
   */
  shareBlocks(ino: Ino, size: number, blocks: [number, BlockHash | null][]): FileInode;

  /**
   * Makes the head's uncommitted changes and files' `writes` durable without a commit
   * (an fsync): appended to the head's write log and synced; nothing to do when there is
   * nothing new. The caller keeps the writes and reads them from its own memory; a later
   * `writeBlocks` covering every logged file stores them. Until then, resizing or sharing
   * blocks into a logged file, and snapshots, are refused. A crash before that: the next
   * writer's open replays them.
   */
  logWrites(writes: LoggedWrite[]): void;
  /** Writes bytes at an offset and commits them (a library writer without a page cache). */
  write(ino: Ino, offset: number, data: Uint8Array): FileInode;
  /**
   * Stores whole blocks of files (a page cache's writeout) in one committed transaction.
   * Returns each file's block hashes in the order given (null: all zeros), or undefined
   * for a file the head no longer has. Blocks equal to the head's are not stored again.
   */
  writeBlocks(files: FileWriteout[]): ([number, BlockHash | null][] | undefined)[];
  /**
   * Calls `listener` with each block the head deletes from the store (one only the head
   * held, let go by a write, a truncation or a deleted file), as it is deleted: a cache
   * of blocks by hash forgets it. Returns the way to stop.
   */
  onFreed(listener: (hash: BlockHash) => void): () => void;
}

export interface VersionedStore {
  /** The store's directory. */
  readonly dir: string;
  readonly blockSize: number;
  readonly storeId: string;
  /** Opened with the writer lock. */
  readonly writable: boolean;
  readonly head: HeadApi;

  // --- revisions and tags ---------------------------------------------------
  /** A number, a tag, or `head`; UNKNOWN_REV otherwise. */
  resolve(spec: string): RevNumber | "head";
  revision(rev: RevNumber): Revision;
  /** Oldest first. */
  revisions(): Revision[];
  latest(): Revision | undefined;
  tags(): [string, RevNumber][];
  tagsOf(rev: RevNumber): string[];
  tag(name: string, rev: RevNumber): void;
  untag(name: string): void;
  /** Removes a revision from the log; `gc` then frees what only it used. */
  drop(rev: RevNumber): void;
  /**
   * Turns the head into a new immutable revision, atomically and durably. `before` runs
   * first in the same transaction (a writeout of what a mount holds), so the snapshot
   * and what it needed stored commit together: one sync, not two. With `deltasLater`
   * the older versions it replaced stay whole until `makeLaterDeltas` (or the next
   * snapshot, or closing) makes them deltas: a mount replies sooner.
   */
  snapshot(message?: string, opts?: { before?: () => void; deltasLater?: boolean }): Revision;
  /** Makes and commits the deltas snapshots left for later. */
  makeLaterDeltas(): void;

  // --- reading trees ----------------------------------------------------------
  view(spec: RevNumber | "head"): TreeView;
  revisionTree(rev: RevNumber): RevisionTree;
  /** Hash of block `index` of a revision's file (null: a hole). An `inline` file has no blocks: read `e.inline`. */
  entryBlock(e: FileEntry, index: number): BlockHash | null;
  /** The blocks of a revision's file that are not holes, in index order (none for an inline file). */
  entryBlocks(e: FileEntry): [number, BlockHash][];
  /** A block's verified bytes; decoded into `into` when it fits (raw and zstd records). */
  readBlock(hash: BlockHash, into?: Uint8Array): Uint8Array;
  /**
   * readBlock for a reply sent at once: a block stored as it is comes checked as a view
   * of the store's memory (`inPlace`, no copy), good only until the current task yields
   * or the store is written: to hand to the kernel at once, never to keep. Any other
   * block is decoded as readBlock does, into the buffer `into` gives (asked only then).
   */
  readBlockForReply(hash: BlockHash, into: () => Uint8Array): { data: Uint8Array; inPlace: boolean };
  /**
   * Several blocks of one read: the compressed ones among them decoded together, on two
   * threads where the native library is built, into buffers `into` gives; undefined
   * for the rest, which readBlockForReply serves (a raw block in place, say).
   */
  readBlocksForReply(hashes: readonly BlockHash[], into: () => Uint8Array): (Uint8Array | undefined)[];
  /**
   * Queues the compressed ones of these blocks to be decoded on a helper thread, into
   * buffers `into` gives, while the caller goes on: a reader in file order's next
   * reads, decoded while this one is answered. `collectDecodedAhead` takes them. Does
   * nothing where blocks are decoded on one thread only.
   */
  decodeBlocksAhead(hashes: readonly BlockHash[], into: () => Uint8Array): void;
  /**
   * Blocks decodeBlocksAhead decoded: at least those of `wanted` it queued, waited for
   * if need be (and any others it has finished).
   */
  collectDecodedAhead(wanted: readonly BlockHash[]): DecodedBlock[];
  /**
   * Whether these blocks are stored whole (raw or compressed, not as deltas): decoding
   * one costs one record, so a reader loses nothing by doing it on the request thread.
   */
  storedWhole(hashes: readonly BlockHash[]): boolean;
  /** readBlock as committed by now: for a reader beside a writer (the mount's loader threads). */
  loadBlock(hash: BlockHash, into?: Uint8Array): Uint8Array;
  /**
   * Blocks about to be read, their records asked of the disk together, as deep as
   * `depth` says (PrefetchDepth): a batch's delta chains are not read one page fault at a
   * time.
   */
  prefetchBlocks(hashes: readonly BlockHash[], depth?: PrefetchDepth): void;
  /** Block records this process has decoded to read blocks (a delta chain is several per block). */
  readonly recordsDecoded: number;
  diff(a: RevNumber, b: RevNumber): Change[];

  // --- committing -----------------------------------------------------------------
  /** Changes not committed yet. */
  readonly pendingChanges: { count: number; bytes: number };
  /** Commits pending head changes. */
  commit(): void;
  /** Commits what is pending and waits until every committed change is on disk. */
  flush(): Promise<void>;
  close(): Promise<void>;

  // --- the local disk -------------------------------------------------------------
  /** Makes the head equal to a local directory and snapshots it. */
  importDir(src: string, message: string, progress?: Progress): Promise<Revision>;
  /** Writes a revision (or the head) into `dst`, missing or empty; never half-written. */
  exportTree(spec: RevNumber | "head", dst: string, progress?: Progress): Promise<void>;
  /** Copies `path` as it was in `rev` into the head. */
  restore(path: string, rev: RevNumber): void;

  // --- maintenance ----------------------------------------------------------------
  gc(progress?: Progress): GcResult;
  optimize(progress?: Progress, note?: (line: string) => void): OptimizeResult;
  verify(progress?: Progress): VerifyReport;
  stats(): StoreStats;
  /** Bytes each revision added: records it reaches that no earlier one does, at their size now. */
  revisionCosts(): Map<RevNumber, number>;
}
