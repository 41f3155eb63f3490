/** `stats`: what the store holds and what it costs on disk. */
import { deltaBaseOf, dictIdOf } from "../blocks/block_codec.ts";
import { hashKey } from "../blocks/hash.ts";
import type { StoreParts } from "../parts.ts";
import { type Ino, type PageHash, type RevNumber, ROOT_INO } from "../types.ts";
import { Reachable } from "./reachability.ts";
import { LMDB_DATA_FILE } from "../records/lmdb_backend.ts";
import { dataFileUsage } from "../records/lmdb_file.ts";
import { TABLES } from "../records/records.ts";

export interface StoreStats {
  blockSize: number;
  revisions: number;
  tags: number;
  /** Sum of file sizes over all live revisions. */
  logicalBytes: number;
  /** Sum of file sizes in the head. */
  headBytes: number;
  uniqueBlocks: number;
  /** Block records stored as a delta on another block, and their bytes. */
  deltaRecords: number;
  deltaBytes: number;
  /** Bytes of block records stored whole (raw, zstd, zstd with a dictionary). */
  wholeBytes: number;
  /** Bytes of tree pages (block maps, directories) and of trained dictionaries. */
  pageBytes: number;
  dictBytes: number;
  /**
   * Bytes of small files kept inline in directory pages, each version once (as files,
   * before compression): a part of what `pageBytes` stores.
   */
  inlineBytes: number;
  /** Longest delta chain: delta records a read of one block decodes. */
  maxChainDepth: number;
  /** Trained zstd dictionaries: record bytes saved is what `optimize` measured when it re-encoded. */
  dictionaries: { id: number; kind: string; size: number; blocks: number; bytesSaved: number }[];
  pages: number;
  /** Bytes of all stored block, page and dictionary records, keys included: whole + delta + page + dict. */
  storedBytes: number;
  /**
   * Keys and values of the tables that hold no block, page or dictionary record: the
   * head, revisions, tags, `chains`, meta. With `storedBytes`, every record LMDB holds;
   * the rest of `fileBytes` is LMDB's own (page and node headers, branch pages, free pages).
   */
  tableBytes: number;
  /** Bytes the store directory takes on disk. */
  fileBytes: number;
  /** Bytes of the data file on LMDB's free list: reused by later writes, given back by `gc`'s compaction. */
  freeBytes: number;
}

export function computeStats(store: StoreParts): StoreStats {
  const r = store.records;
  let logicalBytes = 0;
  let revisions = 0;
  for (const rev of store.log.all()) {
    revisions++;
    logicalBytes += rev.root.size;
  }
  let headBytes = 0;
  for (const ref of headFileSizes(store)) headBytes += ref;
  // One pass over the block records: sizes, delta bases, dictionary users.
  let storedBytes = 0;
  let deltaBytes = 0;
  const baseOf = new Map<string, string>();
  const users = new Map<number, number>();
  for (const [k, v] of r.range("blocks")) {
    storedBytes += k.length + v.length;
    const base = deltaBaseOf(v);
    if (base) {
      baseOf.set(hashKey(k), hashKey(base));
      deltaBytes += k.length + v.length;
    }
    const id = dictIdOf(v);
    if (id !== undefined) users.set(id, (users.get(id) ?? 0) + 1);
  }
  const wholeBytes = storedBytes - deltaBytes;
  const bytesOf = (table: "pages" | "dicts") => {
    let n = 0;
    for (const [k, v] of r.range(table)) n += k.length + v.length;
    return n;
  };
  const pageBytes = bytesOf("pages");
  let inlineBytes = 0;
  for (const k of r.keys("pages")) {
    const p = store.pages.get(k.slice() as PageHash);
    if (p.kind !== "dirleaf") continue;
    for (const [, e] of p.entries) if (e.type === "file" && e.inline) inlineBytes += e.inline.length;
  }
  const dictBytes = bytesOf("dicts");
  storedBytes += pageBytes + dictBytes;
  let tableBytes = 0;
  for (const t of TABLES) {
    if (t === "blocks" || t === "pages" || t === "dicts") continue;
    for (const [k, v] of r.range(t)) tableBytes += k.length + v.length;
  }
  const dictionaries = store.blocks.dicts.all().map((d) => ({
    id: d.id,
    kind: d.kind,
    size: d.bytes.length,
    blocks: users.get(d.id) ?? 0,
    bytesSaved: d.savedAtOptimize,
  }));
  return {
    blockSize: store.blockSize,
    revisions,
    tags: store.log.tags().length,
    logicalBytes,
    headBytes,
    uniqueBlocks: r.count("blocks"),
    deltaRecords: baseOf.size,
    deltaBytes,
    wholeBytes,
    pageBytes,
    dictBytes,
    inlineBytes,
    maxChainDepth: longestChain(baseOf),
    dictionaries,
    pages: r.count("pages"),
    storedBytes,
    tableBytes,
    fileBytes: diskUsage(store.dir),
    freeBytes: freeBytes(store.dir),
  };
}

function* headFileSizes(store: StoreParts): Iterable<number> {
  const stack: Ino[] = [ROOT_INO];
  while (stack.length) {
    const ino = stack.pop()!;
    for (const [, child] of store.head.inodes.readdir(ino)) {
      const i = store.head.inodes.must(child);
      if (i.type === "file") yield i.size;
      else if (i.type === "dir") stack.push(child);
    }
  }
}

/** Deltas on the longest chain, from each delta record's base. */
function longestChain(baseOf: Map<string, string>): number {
  const depth = new Map<string, number>();
  const depthOf = (k: string): number => {
    const known = depth.get(k);
    if (known !== undefined) return known;
    const base = baseOf.get(k);
    // Mark first, so a (corrupt) cycle ends instead of recursing forever.
    depth.set(k, 0);
    const d = base === undefined ? 0 : 1 + depthOf(base);
    depth.set(k, d);
    return d;
  };
  let longest = 0;
  for (const k of baseOf.keys()) longest = Math.max(longest, depthOf(k));
  return longest;
}

function freeBytes(dir: string): number {
  const u = dataFileUsage(`${dir}/${LMDB_DATA_FILE}`);
  return u ? u.freePages * u.pageSize : 0;
}

function diskUsage(dir: string): number {
  let total = 0;
  for (const e of Deno.readDirSync(dir)) {
    const st = Deno.statSync(`${dir}/${e.name}`);
    total += st.blocks !== null ? st.blocks * 512 : st.size;
  }
  return total;
}

/**
 * What each revision costs now: the bytes of the records it reaches that no earlier
 * revision reaches (pages, blocks, and the bases of its deltas), at their size today.
 */
export function revisionCosts(parts: StoreParts): Map<RevNumber, number> {
  const { records, pages, log } = parts;
  const walk = new Reachable(records, pages);
  let added = 0;
  walk.onFirstVisit = (table, key) => {
    const v = records.get(table, key);
    if (v) added += key.length + v.length;
  };
  const out = new Map<RevNumber, number>();
  for (const rev of log.all()) {
    added = 0;
    walk.dir(rev.root.content);
    out.set(rev.rev, added);
  }
  return out;
}
