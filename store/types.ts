/**
 * Shared vocabulary of the store: ids, tree entries, errors.
 *
 * Everything here is plain data; no module in this file touches LMDB.
 */

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** SHA-256 of a block's canonical bytes (trailing zeros removed). 32 bytes. */
export type BlockHash = Brand<Uint8Array, "BlockHash">;
/** SHA-256 of an encoded tree page. 32 bytes. */
export type PageHash = Brand<Uint8Array, "PageHash">;
/**
 * The root of a file's block map: a map page, or (format 6) for a file whose only
 * block is block 0, that block's hash behind a marker byte, so such a file (most
 * source files) needs no map page. 33 bytes; store/tree/block_map.ts reads both.
 */
export type MapRoot = PageHash | Brand<Uint8Array, "OneBlockMap">;
/** A revision number: 1, 2, 3, ... never reused, even after `drop`. */
export type RevNumber = Brand<number, "RevNumber">;
/** An inode number of the head namespace; 1 is the root directory. */
export type Ino = Brand<number, "Ino">;

/**
 * How far a prefetch of blocks goes: "chains", each record and its delta chain, found
 * level by level on the calling thread (the loader threads); "top", the records named,
 * found on the calling thread; "ahead", the records named, found and asked for on a
 * helper thread, so the caller (the request thread) waits for no page of the B-tree.
 */
export type PrefetchDepth = "chains" | "top" | "ahead";

/** A block's bytes, decoded ahead of its read (VersionedStore.decodeBlocksAhead). */
export interface DecodedBlock {
  hash: BlockHash;
  data: Uint8Array;
}

export const ROOT_INO = 1 as Ino;

/** FIFOs, Unix sockets and device nodes: a name, attributes, and for a device its number. */
export type SpecialType = "fifo" | "socket" | "chardev" | "blockdev";
export type EntryType = "file" | "dir" | "symlink" | SpecialType;

/** Extended attributes: (name, value) pairs sorted by name. */
export type Xattrs = [string, Uint8Array][];

interface EntryMeta {
  /** Permission bits (07777); the type lives in `type`. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch. */
  mtimeNs: bigint;
  /** Extended attributes (format 6); absent when there are none. */
  xattrs?: Xattrs;
  /** Set when this name is one of several of one file (format 7; never a directory's). */
  link?: HardLink;
}

/**
 * A hard link: the file a name shares with `count` names in all of its revision. `id`
 * is the same for each of them and for no other file of the revision (the head's inode
 * number, which is never reused).
 */
export interface HardLink {
  id: number;
  count: number;
}

/** One name in a directory of a revision, as stored in a directory page. */
export type Entry =
  | EntryMeta & {
    type: "file";
    size: number;
    /** Root of the block map, null when every block is a hole or the file is inline. */
    content: MapRoot | null;
    /**
     * A small file's bytes, kept in its directory page (format 5): there zstd compresses
     * it with its neighbours, and it costs no record of its own. `size` is its length.
     */
    inline?: Uint8Array;
  }
  | EntryMeta & {
    type: "dir";
    /** Sum of the sizes of every file below this directory. */
    size: number;
    /** Root page of the directory tree, null when empty. */
    content: PageHash | null;
  }
  | EntryMeta & { type: "symlink"; target: string }
  | EntryMeta & {
    type: SpecialType;
    /** Device number (major and minor as Linux encodes them in dev_t); 0 for a FIFO or socket. */
    rdev: number;
  };

export type FileEntry = Extract<Entry, { type: "file" }>;
export type DirEntry = Extract<Entry, { type: "dir" }>;

/** A revision as kept in the revision log. */
export interface Revision {
  rev: RevNumber;
  /** The revision that was the head's base when this one was taken; 0 for none. */
  parent: number;
  timeMs: number;
  message: string;
  /** The root directory of the tree. */
  root: DirEntry;
}

export type ErrorCode =
  | "NOT_A_STORE"
  | "NEWER_FORMAT"
  | "STORE_EXISTS"
  | "STORE_LOCKED"
  | "UNKNOWN_REV"
  | "NO_SUCH_PATH"
  | "NOT_A_DIR"
  | "IS_A_DIR"
  | "EXISTS"
  | "NOT_EMPTY"
  | "CORRUPT"
  | "NAME_TOO_LONG"
  | "NO_SPACE"
  | "NO_XATTR"
  | "INVALID";

/** What an error is about: each field, when set, is named in the message. */
export interface ErrorContext {
  /** The operation that failed, as the user would name it: "snapshot", "open store". */
  op?: string;
  /** A path inside a tree ("" is its root), or a path on the local disk. */
  path?: string;
  rev?: number;
  /** A stored record by kind and short hex name: "block 1a2b3c4d", "page 5e6f7a8b". */
  record?: string;
  /** What the user can do about it. */
  hint?: string;
}

/**
 * An error meant for the user: its message is one complete line that names the
 * object that failed (revision, path, block), never the function that noticed. The
 * message is built from `what` and the context, which callers may also read.
 */
export class RevfsError extends Error {
  readonly op?: string;
  readonly path?: string;
  readonly rev?: number;
  readonly record?: string;
  readonly hint?: string;

  constructor(readonly code: ErrorCode, readonly what: string, context: ErrorContext = {}) {
    super(describe(what, context));
    this.name = "RevfsError";
    Object.assign(this, context);
  }

  /** The same error with more context (an outer layer knows the op or the path). */
  with(context: ErrorContext): RevfsError {
    const { op, path, rev, record, hint } = this;
    return new RevfsError(this.code, this.what, { op, path, rev, record, hint, ...context });
  }
}

/** "op: path, revision N, block X: what (hint)", leaving out what is not known. */
function describe(what: string, c: ErrorContext): string {
  const where: string[] = [];
  if (c.path !== undefined) where.push(c.path === "" ? "/" : c.path);
  if (c.rev !== undefined) where.push(`revision ${c.rev}`);
  if (c.record !== undefined) where.push(c.record);
  let s = where.length > 0 ? `${where.join(", ")}: ${what}` : what;
  if (c.op !== undefined) s = `${c.op}: ${s}`;
  if (c.hint !== undefined) s += ` (${c.hint})`;
  return s;
}
