/**
 * Tree pages: the immutable, content-addressed nodes that revisions share.
 * Block maps (store/tree/block_map.ts) and directory trees (store/tree/dir_tree.ts) are made
 * of them. A page's id is the SHA-256 of its encoded body; the stored record may
 * zstd-compress the body (FORMAT.md, "Page records").
 */
import { Reader, Writer } from "../codec.ts";
import { bytesEqual, HASH_BYTES, hashKey, sha256, shortHex } from "../blocks/hash.ts";
import type { RecordStore } from "../records/records.ts";
import { type BlockHash, type Entry, type PageHash, RevfsError } from "../types.ts";
import { compress, decompress } from "../blocks/zstd.ts";

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

export function writeEntry(w: Writer, e: Entry): void {
  w.u8(ENTRY_TAG[e.type]).uint(e.mode).uint(e.uid).uint(e.gid).bigint(e.mtimeNs);
  if (e.type === "symlink") {
    w.str(e.target);
  } else {
    w.uint(e.size);
    writeOptHash(w, e.content);
  }
}

export function readEntry(r: Reader): Entry {
  const tag = r.u8();
  const mode = r.uint(), uid = r.uint(), gid = r.uint(), mtimeNs = r.bigint();
  switch (tag) {
    case 1:
      return { type: "file", mode, uid, gid, mtimeNs, size: r.uint(), content: readOptHash(r) as PageHash | null };
    case 2:
      return { type: "dir", mode, uid, gid, mtimeNs, size: r.uint(), content: readOptHash(r) as PageHash | null };
    case 3:
      return { type: "symlink", mode, uid, gid, mtimeNs, target: r.str() };
    default:
      throw new RevfsError("CORRUPT", `unknown entry type ${tag}`);
  }
}

function writeOptHash(w: Writer, h: Uint8Array | null): void {
  if (h === null) w.u8(0);
  else w.u8(1).raw(h);
}

function readOptHash(r: Reader): Uint8Array | null {
  return r.u8() === 0 ? null : r.raw(HASH_BYTES).slice();
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

/** Decoded pages kept in memory; pages are immutable, so a cached page is never stale. */
const CACHE_PAGES = 8192;

export class PageStore {
  private readonly cache = new Map<string, Page>();
  /** Pages this process has added to the store; tests count copy-on-write cost with it. */
  written = 0;

  constructor(private readonly records: RecordStore) {}

  /** Stores a page inside the current write transaction; returns its id. */
  put(page: Page): PageHash {
    const body = encodePage(page);
    const hash = sha256(body) as PageHash;
    if (!this.records.has("pages", hash)) {
      let record: Uint8Array;
      const frame = body.length >= 64 ? compress(body) : undefined;
      if (frame && frame.length < body.length * 0.9) {
        record = new Uint8Array(frame.length + 1);
        record[0] = RECORD_ZSTD;
        record.set(frame, 1);
      } else {
        record = new Uint8Array(body.length + 1);
        record[0] = RECORD_RAW;
        record.set(body, 1);
      }
      this.records.put("pages", hash, record);
      this.written++;
    }
    this.remember(hashKey(hash), page);
    return hash;
  }

  /** The page with this id, verified against it. */
  get(hash: PageHash): Page {
    const key = hashKey(hash);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const page = this.load(hash);
    this.remember(key, page);
    return page;
  }

  /** Reads and verifies a page without the cache (used by verify). */
  load(hash: PageHash): Page {
    const what = `page ${shortHex(hash)}`;
    const corrupt = (why: string) => new RevfsError("CORRUPT", why, { record: what });
    const stored = this.records.get("pages", hash);
    if (stored === undefined) throw corrupt("missing from the store");
    let body: Uint8Array;
    if (stored[0] === RECORD_RAW) body = stored.subarray(1);
    else if (stored[0] === RECORD_ZSTD) {
      try {
        body = decompress(stored.subarray(1));
      } catch {
        throw corrupt("corrupt, its zstd frame does not decode");
      }
    } else throw corrupt(`unknown record kind ${stored[0]}`);
    if (!bytesEqual(sha256(body), hash)) throw corrupt("corrupt, its content does not match its hash");
    return decodePage(body, what);
  }

  private remember(key: string, page: Page): void {
    this.cache.set(key, page);
    if (this.cache.size > CACHE_PAGES) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }
}
