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
 */
import { RevfsError } from "./types.ts";

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
    const size = file.statSync().size;
    const head = new Uint8Array(Math.min(size, 2 * 65536));
    let got = 0;
    while (got < head.length) {
      const n = file.readSync(head.subarray(got));
      if (n === null) break;
      got += n;
    }
    const first = readMeta(new DataView(head.buffer, 0, Math.min(got, 4096)));
    if (typeof first === "string") throw damaged(`has no valid first meta page (${first})`);
    const ps = first.pageSize;
    if (size < 2 * ps) throw damaged(`is ${size} bytes, shorter than its two meta pages`);
    const second = readMeta(new DataView(head.buffer, ps, ps));
    if (typeof second === "string") throw damaged(`has no valid second meta page (${second})`);
    const meta = second.txnid > first.txnid ? second : first;
    const pages = BigInt(size) / BigInt(ps);
    if (meta.lastPage >= pages) {
      throw damaged(`is truncated: ${size} bytes, but its last commit uses ${(meta.lastPage + 1n) * BigInt(ps)}`);
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
