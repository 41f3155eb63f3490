/**
 * A sanity check of LMDB's data file before LMDB maps it. LMDB trusts its file: a
 * truncated file makes it fault on a page past the end (SIGBUS), a damaged meta page
 * makes it follow a wild page number (SIGSEGV), and neither can be caught in Deno. So
 * we read the two meta pages ourselves and refuse a file they do not describe.
 *
 * Layout, as written by the LMDB that lmdb-js 3 builds (its 1.0 branch; page header
 * of 24 bytes: pgno, txnid, pad, flags, lower, upper), little-endian:
 *   page 0 and page 1 are meta pages; in each, from byte 24:
 *   magic u32 = 0xBEEFC0DE, version u32, address u64, mapsize u64,
 *   free db (48 bytes; its first u32 is the page size), main db (48 bytes),
 *   last page number u64, transaction id u64.
 * Each db: pad u32, flags u16, depth u16, branch, leaf, overflow pages, entries,
 * root page number (u64 each; the root is all ones for an empty db).
 * LMDB uses the meta page with the higher transaction id.
 *
 * The file may legitimately end before the last page: a page a transaction dirtied
 * and freed again ("loose") is put on the free list without being written. So pages
 * past the end are allowed when the free list holds every one of them. Other pages:
 * header pgno u64, txnid u64, pad u16, flags u16, lower u16, upper u16 (an overflow
 * page: a u32 page count instead), then u16 node offsets (from byte 24). A node: size
 * or child pgno (lo u16, hi u16, flags u16 as bits 32-47 of a child), key size u16,
 * key, data. A free list value is a count u64 and that many i64 entries: a page number,
 * 0 (unused), or minus the length of a run of pages whose first page number follows
 * (lmdb-js's LMDB writes runs; found in a store the benchmark left).
 */
import { RevfsError } from "../types.ts";

const MAGIC = 0xbeefc0de;
const META_AT = 24;
const DB_BYTES = 48;
const FREE_DB_AT = META_AT + 24;
const MAIN_DB_AT = FREE_DB_AT + DB_BYTES;
const LAST_PAGE_AT = MAIN_DB_AT + DB_BYTES;
const TXNID_AT = LAST_PAGE_AT + 8;
const EMPTY_ROOT = 0xffff_ffff_ffff_ffffn;
const PAGE_SIZES = new Set([4096, 8192, 16384, 32768, 65536]);

interface Meta {
  pageSize: number;
  lastPage: bigint;
  txnid: bigint;
  roots: bigint[];
}

function readMeta(page: DataView): Meta | string {
  if (page.byteLength < TXNID_AT + 8) return "too short";
  if (page.getUint32(META_AT, true) !== MAGIC) return "no LMDB magic";
  const pageSize = page.getUint32(FREE_DB_AT, true);
  if (!PAGE_SIZES.has(pageSize)) return `page size ${pageSize}`;
  const root = (db: number) => page.getBigUint64(db + 40, true);
  return {
    pageSize,
    lastPage: page.getBigUint64(LAST_PAGE_AT, true),
    txnid: page.getBigUint64(TXNID_AT, true),
    roots: [root(FREE_DB_AT), root(MAIN_DB_AT)],
  };
}

/** The file's size and its first bytes, enough for both meta pages at any page size. */
function readHead(file: Deno.FsFile): { size: number; head: Uint8Array; got: number } {
  const size = file.statSync().size;
  const head = new Uint8Array(Math.min(size, 2 * 65536));
  let got = 0;
  while (got < head.length) {
    const n = file.readSync(head.subarray(got));
    if (n === null) break;
    got += n;
  }
  return { size, head, got };
}

/** Throws a one-line RevfsError when `path` cannot be a whole LMDB data file. */
export function checkDataFile(path: string, storeDir: string): void {
  const damaged = (why: string) =>
    new RevfsError("CORRUPT", `store ${storeDir} is damaged: its ${path.split("/").pop()} ${why}; not opening it`);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw damaged(`cannot be read (${(e as Error).message})`);
  }
  try {
    const { size, head, got } = readHead(file);
    const first = readMeta(new DataView(head.buffer, 0, Math.min(got, 4096)));
    if (typeof first === "string") throw damaged(`has no valid first meta page (${first})`);
    const ps = first.pageSize;
    if (size < 2 * ps) throw damaged(`is ${size} bytes, shorter than its two meta pages`);
    const second = readMeta(new DataView(head.buffer, ps, ps));
    if (typeof second === "string") throw damaged(`has no valid second meta page (${second})`);
    const meta = second.txnid > first.txnid ? second : first;
    const pages = BigInt(size) / BigInt(ps);
    if (meta.lastPage >= pages) {
      const free = freePages(file, ps, meta.roots[0], pages);
      let missing = typeof free === "string" ? free : undefined;
      for (let p = pages; missing === undefined && p <= meta.lastPage;) {
        const next = (free as FreeList).pastFree(p);
        if (next === p) missing = `page ${p} is in use`;
        p = next;
      }
      if (missing !== undefined) {
        throw damaged(
          `is truncated: ${size} bytes, but its last commit uses ${(meta.lastPage + 1n) * BigInt(ps)} (${missing})`,
        );
      }
    }
    for (const root of meta.roots) {
      if (root !== EMPTY_ROOT && (root < 2n || root > meta.lastPage)) {
        throw damaged(`names root page ${root}, outside its ${meta.lastPage + 1n} pages`);
      }
    }
  } finally {
    file.close();
  }
}

/** How the data file's pages are used: how many it has, and how many LMDB's free list holds. */
export interface DataFileUsage {
  pageSize: number;
  /** Pages the file's size holds. */
  filePages: number;
  /** Pages on LMDB's free list (reused by later writes; the file never shrinks). */
  freePages: number;
}

/** Reads the page use of a data file that `checkDataFile` accepts; undefined when it cannot. */
export function dataFileUsage(path: string): DataFileUsage | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const { size, head, got } = readHead(file);
    const first = readMeta(new DataView(head.buffer, 0, Math.min(got, 4096)));
    if (typeof first === "string") return undefined;
    const ps = first.pageSize;
    const second = got >= 2 * ps ? readMeta(new DataView(head.buffer, ps, ps)) : "short";
    const meta = typeof second !== "string" && second.txnid > first.txnid ? second : first;
    const pages = BigInt(size) / BigInt(ps);
    const free = freePages(file, ps, meta.roots[0], pages);
    if (typeof free === "string") return undefined;
    let freeCount = free.pages.size;
    for (const r of free.runs) freeCount += Number(r.length);
    return { pageSize: ps, filePages: Number(pages), freePages: freeCount };
  } finally {
    file.close();
  }
}

const P_BRANCH = 0x01, P_LEAF = 0x02, F_BIGDATA = 0x01, PAGE_HEADER = 24;

/** Pages on LMDB's free list: single pages, and runs kept whole (a run may be long). */
class FreeList {
  readonly pages = new Set<bigint>();
  readonly runs: { first: bigint; length: bigint }[] = [];

  /** The first page after `p` when `p` is free (past its whole run), else `p`. */
  pastFree(p: bigint): bigint {
    if (this.pages.has(p)) return p + 1n;
    const run = this.runs.find((r) => p >= r.first && p < r.first + r.length);
    return run ? run.first + run.length : p;
  }
}

/** The pages on LMDB's free list, or why they cannot be read. */
function freePages(file: Deno.FsFile, ps: number, root: bigint, pages: bigint): FreeList | string {
  const free = new FreeList();
  if (root === EMPTY_ROOT) return free;
  const read = (pgno: bigint, count = 1): DataView | string => {
    if (pgno < 2n || pgno + BigInt(count) > pages) return `free list page ${pgno} is past the end`;
    const buf = new Uint8Array(ps * count);
    file.seekSync(Number(pgno) * ps, Deno.SeekMode.Start);
    for (let got = 0; got < buf.length;) {
      const n = file.readSync(buf.subarray(got));
      if (n === null) return `free list page ${pgno} cannot be read`;
      got += n;
    }
    return new DataView(buf.buffer);
  };
  const todo = [root];
  for (let visited = 0; todo.length > 0; visited++) {
    if (visited > Number(pages)) return "its free list does not end";
    const page = read(todo.pop()!);
    if (typeof page === "string") return page;
    const flags = page.getUint16(18, true);
    const keys = page.getUint16(20, true) >> 1;
    if (!(flags & (P_BRANCH | P_LEAF)) || PAGE_HEADER + 2 * keys > ps) return "its free list is damaged";
    for (let i = 0; i < keys; i++) {
      const at = PAGE_HEADER + page.getUint16(PAGE_HEADER + 2 * i, true);
      if (at + 8 > ps) return "its free list is damaged";
      const lo = page.getUint16(at, true), hi = page.getUint16(at + 2, true), nodeFlags = page.getUint16(at + 4, true);
      const dataAt = at + 8 + page.getUint16(at + 6, true);
      if (flags & P_BRANCH) {
        todo.push(BigInt(lo) | BigInt(hi) << 16n | BigInt(nodeFlags) << 32n);
        continue;
      }
      const size = lo | hi << 16;
      let data: DataView;
      if (nodeFlags & F_BIGDATA) {
        if (dataAt + 8 > ps) return "its free list is damaged";
        const ov = read(page.getBigUint64(dataAt, true), Math.ceil((PAGE_HEADER + size) / ps));
        if (typeof ov === "string") return ov;
        data = new DataView(ov.buffer, PAGE_HEADER, size);
      } else {
        if (dataAt + size > ps) return "its free list is damaged";
        data = new DataView(page.buffer, dataAt, size);
      }
      const n = size >= 8 ? Number(data.getBigUint64(0, true)) : -1;
      if (n < 0 || 8 * (n + 1) > size) return "its free list is damaged";
      for (let k = 1; k <= n; k++) {
        const id = data.getBigInt64(8 * k, true);
        if (id >= 0n) {
          if (id > 0n) free.pages.add(id);
          continue;
        }
        // A run: minus its length, then its first page.
        if (++k > n) return "its free list is damaged";
        free.runs.push({ first: data.getBigUint64(8 * k, true), length: -id });
      }
    }
  }
  return free;
}
