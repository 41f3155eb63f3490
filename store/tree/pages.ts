/**
 * Tree pages: the immutable, content-addressed nodes that revisions share.
 * Block maps (store/tree/block_map.ts) and directory trees (store/tree/dir_tree.ts) are made
 * of them. A page's id is the SHA-256 of its encoded body; the stored record may
 * zstd-compress the body (FORMAT.md, "Page records").
 */
import { Reader, Writer } from "../codec.ts";
import { bytesEqual, HASH_BYTES, hashKey, sha256, shortHex } from "../blocks/hash.ts";
import type { RecordStore } from "../records/records.ts";
import { type BlockHash, type Entry, type PageHash, RevfsError, type SpecialType } from "../types.ts";
import { compress, compressWithDict, decompress, decompressWithDict } from "../blocks/zstd.ts";
import { readMapRoot, writeMapRoot } from "./map_root.ts";
import { readXattrs, writeXattrs } from "./xattrs.ts";
import { type ChainKind, Chains, MAX_PAGE_DELTA_DEPTH, pageChainKey } from "../blocks/chains.ts";
import { copyBytes } from "../../sys/small_bytes.ts";

export interface DirChild {
  page: PageHash;
  /** Entries in that subtree. */
  count: number;
}

export type Page =
  | { kind: "bmleaf"; slots: (BlockHash | null)[] }
  | { kind: "bminner"; level: number; slots: (PageHash | null)[] }
  | { kind: "dirleaf"; entries: [string, Entry][] }
  | { kind: "dirinner"; depth: number; children: (DirChild | null)[] };

const TAG = { bmleaf: 1, bminner: 2, dirleaf: 3, dirinner: 4 } as const;
const ENTRY_TAG = { file: 1, dir: 2, symlink: 3 } as const;
/** A file whose bytes are in the entry (format 5). */
const INLINE_FILE_TAG = 4;
/** On an entry's type byte (format 6): its extended attributes follow the entry. */
const XATTRS_BIT = 0x80;
/** On an entry's type byte (format 7): a hard link, `uint` id and `uint` count, follows the entry's body. */
const LINK_BIT = 0x40;
/** A FIFO, socket or device node (format 6): `u8` which, `uint` rdev. */
const SPECIAL_TAG = 5;
export const SPECIAL_KIND: Record<SpecialType, number> = { fifo: 1, socket: 2, chardev: 3, blockdev: 4 };
const SPECIAL_OF: Record<number, SpecialType> = { 1: "fifo", 2: "socket", 3: "chardev", 4: "blockdev" };

export function specialOf(kind: number): SpecialType {
  const t = SPECIAL_OF[kind];
  if (t === undefined) throw new RevfsError("CORRUPT", `unknown special file kind ${kind}`);
  return t;
}

export function writeEntry(w: Writer, e: Entry): void {
  const tag = e.type === "file" && e.inline
    ? INLINE_FILE_TAG
    : e.type === "file" || e.type === "dir" || e.type === "symlink"
    ? ENTRY_TAG[e.type]
    : SPECIAL_TAG;
  const bits = (e.xattrs?.length ? XATTRS_BIT : 0) | (e.link ? LINK_BIT : 0);
  w.u8(tag | bits).uint(e.mode).uint(e.uid).uint(e.gid).bigint(e.mtimeNs);
  if (e.type === "file" && e.inline) {
    w.bytes(e.inline);
  } else if (e.type === "symlink") {
    w.str(e.target);
  } else if (e.type === "file") {
    w.uint(e.size);
    writeMapRoot(w, e.content);
  } else if (e.type !== "dir") {
    w.u8(SPECIAL_KIND[e.type]).uint(e.rdev);
  } else {
    w.uint(e.size);
    writeOptHash(w, e.content);
  }
  if (e.link) w.uint(e.link.id).uint(e.link.count);
  if (e.xattrs?.length) writeXattrs(w, e.xattrs);
}

export function readEntry(r: Reader): Entry {
  const tagged = r.u8();
  const e = readEntryBody(r, tagged & ~(XATTRS_BIT | LINK_BIT));
  if (tagged & LINK_BIT) {
    if (e.type === "dir") throw new RevfsError("CORRUPT", "a directory entry names a hard link");
    e.link = { id: r.uint(), count: r.uint() };
  }
  if (tagged & XATTRS_BIT) e.xattrs = readXattrs(r);
  return e;
}

function readEntryBody(r: Reader, tag: number): Entry {
  const mode = r.uint(), uid = r.uint(), gid = r.uint(), mtimeNs = r.bigint();
  switch (tag) {
    case 1:
      return { type: "file", mode, uid, gid, mtimeNs, size: r.uint(), content: readMapRoot(r) };
    case 2:
      return { type: "dir", mode, uid, gid, mtimeNs, size: r.uint(), content: readOptHash(r) as PageHash | null };
    case 3:
      return { type: "symlink", mode, uid, gid, mtimeNs, target: r.str() };
    case SPECIAL_TAG:
      return { type: specialOf(r.u8()), mode, uid, gid, mtimeNs, rdev: r.uint() };
    case INLINE_FILE_TAG: {
      const inline = copyBytes(r.bytes());
      return { type: "file", mode, uid, gid, mtimeNs, size: inline.length, content: null, inline };
    }
    default:
      throw new RevfsError("CORRUPT", `unknown entry type ${tag}`);
  }
}

function writeOptHash(w: Writer, h: Uint8Array | null): void {
  if (h === null) w.u8(0);
  else w.u8(1).raw(h);
}

function readOptHash(r: Reader): Uint8Array | null {
  return r.u8() === 0 ? null : copyBytes(r.raw(HASH_BYTES));
}

export function encodePage(p: Page): Uint8Array {
  const w = new Writer().u8(TAG[p.kind]);
  switch (p.kind) {
    case "bmleaf":
      w.uint(p.slots.length);
      for (const s of p.slots) writeOptHash(w, s);
      break;
    case "bminner":
      w.uint(p.level).uint(p.slots.length);
      for (const s of p.slots) writeOptHash(w, s);
      break;
    case "dirleaf":
      w.uint(p.entries.length);
      for (const [name, e] of p.entries) {
        w.str(name);
        writeEntry(w, e);
      }
      break;
    case "dirinner":
      w.uint(p.depth).uint(p.children.length);
      for (const c of p.children) {
        writeOptHash(w, c?.page ?? null);
        if (c) w.uint(c.count);
      }
      break;
  }
  return w.finish();
}

export function decodePage(body: Uint8Array, what: string): Page {
  const r = new Reader(body, what);
  const tag = r.u8();
  let page: Page;
  switch (tag) {
    case 1: {
      const n = r.uint();
      const slots: (BlockHash | null)[] = [];
      for (let i = 0; i < n; i++) slots.push(readOptHash(r) as BlockHash | null);
      page = { kind: "bmleaf", slots };
      break;
    }
    case 2: {
      const level = r.uint();
      const n = r.uint();
      const slots: (PageHash | null)[] = [];
      for (let i = 0; i < n; i++) slots.push(readOptHash(r) as PageHash | null);
      page = { kind: "bminner", level, slots };
      break;
    }
    case 3: {
      const n = r.uint();
      const entries: [string, Entry][] = [];
      for (let i = 0; i < n; i++) entries.push([r.str(), readEntry(r)]);
      page = { kind: "dirleaf", entries };
      break;
    }
    case 4: {
      const depth = r.uint();
      const n = r.uint();
      const children: (DirChild | null)[] = [];
      for (let i = 0; i < n; i++) {
        const h = readOptHash(r) as PageHash | null;
        children.push(h === null ? null : { page: h, count: r.uint() });
      }
      page = { kind: "dirinner", depth, children };
      break;
    }
    default:
      throw new RevfsError("CORRUPT", `${what}: unknown page kind ${tag}`);
  }
  r.end();
  return page;
}

const RECORD_RAW = 0;
const RECORD_ZSTD = 1;
/** A delta: the base page's hash, then a zstd frame of the body with the base's body as dictionary. */
const RECORD_DELTA = 2;
const DELTA_HEADER = 1 + HASH_BYTES;
/** A page delta is kept only when it is at most this fraction of the record it replaces. */
const DELTA_GAIN = 3 / 4;
/** Page chains read at most 4 x this many record bytes (pages are far smaller than blocks)... */
export const PAGE_CHAIN_UNIT = 16 << 10;

/**
 * ... or 4 x the whole page at the chain's bottom, when that is larger: a directory
 * page holding small files inline can be 100 KiB of incompressible bytes, and its older
 * versions must still be deltas (one changed file), not whole copies.
 */
export function pageChainUnit(wholeBytes: number): number {
  return Math.max(PAGE_CHAIN_UNIT, wholeBytes);
}

/** A page's body as a record that reads alone: zstd when that saves at least 10%, else raw. */
function wholeRecord(body: Uint8Array): Uint8Array {
  const frame = body.length >= 64 ? compress(body) : undefined;
  const compressed = frame !== undefined && frame.length < body.length * 0.9;
  const rest = compressed ? frame : body;
  const record = new Uint8Array(rest.length + 1);
  record[0] = compressed ? RECORD_ZSTD : RECORD_RAW;
  record.set(rest, 1);
  return record;
}

/** The page a page record is a delta on; undefined for a whole record. */
export function pageDeltaBaseOf(record: Uint8Array): Uint8Array | undefined {
  return record[0] === RECORD_DELTA && record.length >= DELTA_HEADER ? record.subarray(1, DELTA_HEADER) : undefined;
}

const PAGE_CHAINS: ChainKind = {
  table: "pages",
  baseOf: pageDeltaBaseOf,
  chainKey: pageChainKey,
  maxHops: MAX_PAGE_DELTA_DEPTH,
};

/** Decoded pages kept in memory; pages are immutable, so a cached page is never stale. */
const CACHE_PAGES = 8192;
/** ... and at most about this many bytes of them (directory pages hold small files). */
const CACHE_BYTES = 32 << 20;

export class PageStore {
  private readonly cache = new Map<string, [Page, number]>();
  private cachedBytes = 0;
  /** Pages this process has added to the store; tests count copy-on-write cost with it. */
  written = 0;

  readonly chains: Chains;
  /** Whether `supersede` makes deltas (off only to measure what they save, and in tests). */
  deltasEnabled = true;

  constructor(private readonly records: RecordStore) {
    this.chains = new Chains(records, PAGE_CHAINS);
  }

  /** Stores a page inside the current write transaction; returns its id. */
  put(page: Page): PageHash {
    const body = encodePage(page);
    const hash = sha256(body) as PageHash;
    const existing = this.records.get("pages", hash);
    // A page that is history (a delta) and is current again is stored whole again.
    if (existing === undefined || existing[0] === RECORD_DELTA) {
      if (existing !== undefined) this.chains.wholeAgain(hash);
      this.records.put("pages", hash, wholeRecord(body));
      if (existing === undefined) this.written++;
    }
    this.remember(hashKey(hash), page, body.length);
    return hash;
  }

  /** Re-encodes a delta page whole (gc, when its base goes away). Keeps the hash. */
  storeWhole(hash: PageHash): void {
    const body = this.body(hash);
    this.chains.wholeAgain(hash);
    this.records.put("pages", hash, wholeRecord(body));
  }

  /** The page with this id, verified against it. */
  get(hash: PageHash): Page {
    const key = hashKey(hash);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit[0];
    }
    const body = this.body(hash);
    const page = decodePage(body, `page ${shortHex(hash)}`);
    this.remember(key, page, body.length);
    return page;
  }

  /** Reads and verifies a page without the cache (used by verify). */
  load(hash: PageHash): Page {
    return decodePage(this.body(hash), `page ${shortHex(hash)}`);
  }

  /** A page's encoded body, verified against its hash (and every base on its chain). */
  body(hash: PageHash, depth = 0): Uint8Array {
    const what = `page ${shortHex(hash)}`;
    const corrupt = (why: string) => new RevfsError("CORRUPT", why, { record: what });
    const stored = this.records.get("pages", hash);
    if (stored === undefined) throw corrupt("missing from the store");
    let body: Uint8Array;
    if (stored[0] === RECORD_RAW) body = stored.subarray(1);
    else if (stored[0] === RECORD_ZSTD || stored[0] === RECORD_DELTA) {
      // A valid chain is bounded (store/blocks/chains.ts); a longer one is a cycle.
      if (depth > MAX_PAGE_DELTA_DEPTH) throw corrupt("corrupt, its delta chain does not end");
      const base = stored[0] === RECORD_DELTA
        ? this.body(pageDeltaBaseOf(stored)!.slice() as PageHash, depth + 1)
        : null;
      try {
        body = base ? decompressWithDict(stored.subarray(DELTA_HEADER), base) : decompress(stored.subarray(1));
      } catch {
        throw corrupt("corrupt, its zstd frame does not decode");
      }
    } else throw corrupt(`unknown record kind ${stored[0]}`);
    if (!bytesEqual(sha256(body), hash)) throw corrupt("corrupt, its content does not match its hash");
    return body;
  }

  /**
   * Re-encodes whole page `older` as a delta on `newer`, the page that replaced it (the
   * same directory or block map one snapshot later), when that is small enough and the
   * chain bounds allow; keeps its hash. Returns the bytes saved.
   */
  supersede(older: PageHash, newer: PageHash): number {
    if (!this.deltasEnabled || bytesEqual(older, newer)) return 0;
    const stored = this.records.get("pages", older);
    if (stored === undefined || stored[0] === RECORD_DELTA || stored.length <= DELTA_HEADER * 2) return 0;
    const content = this.body(older);
    const base = this.body(newer);
    const frame = compressWithDict(content, base);
    const size = DELTA_HEADER + frame.length;
    if (size > stored.length * DELTA_GAIN) return 0;
    // Decode the frame before it replaces a record that reads.
    if (!bytesEqual(decompressWithDict(frame, base), content)) return 0;
    const chain = this.chains.allows(older, size, newer, pageChainUnit);
    if (!chain) return 0;
    const record = new Uint8Array(size);
    record[0] = RECORD_DELTA;
    record.set(newer, 1);
    record.set(frame, DELTA_HEADER);
    this.records.put("pages", older, record);
    this.chains.noteDelta(older, size, chain);
    return stored.length - size;
  }

  /**
   * Re-encodes a compressed page record (whole, or a delta on the same base) at
   * `level`, when that makes it smaller (`optimize`). Returns the bytes saved.
   */
  recompress(hash: PageHash, level: number): number {
    const stored = this.records.get("pages", hash);
    if (stored === undefined || stored[0] === RECORD_RAW) return 0;
    const body = this.body(hash);
    const base = pageDeltaBaseOf(stored)?.slice() as PageHash | undefined;
    const baseBody = base && this.body(base);
    const frame = baseBody ? compressWithDict(body, baseBody, level) : compress(body, level);
    const header = base ? DELTA_HEADER : 1;
    if (header + frame.length >= stored.length) return 0;
    const decoded = baseBody ? decompressWithDict(frame, baseBody) : decompress(frame);
    if (!bytesEqual(decoded, body)) return 0;
    const record = new Uint8Array(header + frame.length);
    record.set(stored.subarray(0, header));
    record.set(frame, header);
    this.records.put("pages", hash, record);
    return stored.length - record.length;
  }

  private remember(key: string, page: Page, bytes: number): void {
    const had = this.cache.get(key);
    if (had) this.cachedBytes -= had[1];
    this.cache.delete(key);
    this.cache.set(key, [page, bytes]);
    this.cachedBytes += bytes;
    while (this.cache.size > CACHE_PAGES || (this.cachedBytes > CACHE_BYTES && this.cache.size > 1)) {
      const [oldest, [, n]] = this.cache.entries().next().value as [string, [Page, number]];
      this.cache.delete(oldest);
      this.cachedBytes -= n;
    }
  }
}
