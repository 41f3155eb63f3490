/**
 * The head's write log, after ZFS's intent log: an fsync appends to STORE/head.log what
 * it must make durable and syncs that one file, instead of committing to LMDB (two
 * syncs) and storing the whole blocks small writes touch (a 4 KiB database page would
 * rewrite a 64 KiB block). A record holds:
 *
 * - the head's changes not committed yet (creates, renames, setattrs: the pending
 *   records of the group commit, as puts and deletes), numbered by a log sequence number
 *   (LSN). Every commit that applies pending changes marks the LSNs up to then applied;
 * - files' writes (byte ranges), which the writer keeps in memory and later stores as
 *   blocks in one writeout covering every logged file; that commit marks the log's
 *   generation folded, and the log starts its next generation empty.
 *
 * After a crash, the next writer to open the store replays what is not marked (store.ts):
 * record changes first, in order, then writes over the head's blocks. Writes to inodes
 * that are gone are skipped: inode numbers are never reused. A record cut short or
 * failing its checksum ends the log: its append never returned.
 *
 * Layout: FORMAT.md, "Write log".
 */
import { Reader, Writer } from "../codec.ts";
import { xxh3 } from "../blocks/checksum.ts";
import { type Table, TABLES } from "../records/records.ts";
import { type Ino, RevfsError } from "../types.ts";

export const WRITE_LOG_FILE = "head.log";

const MAGIC = new TextEncoder().encode("revfslog");
const VERSION = 1;
const HEADER_BYTES = 16;
/**
 * The file grows by this much at a time, written with zeros, and records overwrite it:
 * an fdatasync that need not also commit the file's new size (an ext4 journal commit) took
 * 240 us here against 250-670 us for an append.
 */
const GROW_BYTES = 1 << 20;

/** One file's writes in one fsync: its size and mtime then, and byte ranges with their new bytes. */
export interface LoggedWrite {
  ino: Ino;
  size: number;
  mtimeNs: bigint;
  ranges: [offset: number, bytes: Uint8Array][];
}

/** A head record put (a value) or deleted (null) and not committed when it was logged. */
export type LoggedChange = [table: Table, key: Uint8Array, value: Uint8Array | null];

/** What a log holds that the store does not: its changes after `kvApplied`, its writes unless folded. */
export interface Unreplayed {
  changes: LoggedChange[];
  writes: LoggedWrite[];
  /** The log's generation and the last LSN it holds: what a replay marks. */
  gen: number;
  lastLsn: number;
}

export class WriteLog {
  /** Inodes with writes in this generation. */
  private readonly inos = new Set<Ino>();
  private end = HEADER_BYTES;
  /** The file's size: zeros or older generations' records past `end`. */
  private space: number;

  private constructor(
    private readonly file: Deno.FsFile,
    private readonly path: string,
    private gen: number,
    /** The last LSN given out. */
    private lsn: number,
  ) {
    this.space = file.statSync().size;
  }

  /**
   * Opens (or creates) `dir`'s log. What it returns was logged by a writer that stopped
   * (changes after LSN `kvApplied`; writes when the generation is above `foldedGen`): the
   * caller replays it and marks it before it appends (the first append empties the file).
   */
  static open(dir: string, foldedGen: number, kvApplied: number): { log: WriteLog; unreplayed: Unreplayed } {
    const path = `${dir}/${WRITE_LOG_FILE}`;
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    try {
      const bytes = readAll(file);
      const gen = bytes.length >= HEADER_BYTES ? headerGen(bytes, path) : 0;
      const unreplayed: Unreplayed = { changes: [], writes: [], gen, lastLsn: kvApplied };
      for (const r of readRecords(bytes, gen)) {
        if (r.lsn > kvApplied) unreplayed.changes.push(...r.changes);
        if (gen > foldedGen) unreplayed.writes.push(...r.writes);
        unreplayed.lastLsn = Math.max(unreplayed.lastLsn, r.lsn);
      }
      const log = new WriteLog(file, path, Math.max(gen, foldedGen) + 1, unreplayed.lastLsn);
      return { log, unreplayed };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Whether `dir` has a log with records (which may all be in the store already): a stat,
   * no read. A writer's log is empty after it closes, not while it runs.
   */
  static hasRecords(dir: string): boolean {
    try {
      return Deno.statSync(`${dir}/${WRITE_LOG_FILE}`).size > HEADER_BYTES;
    } catch {
      return false;
    }
  }

  /** This generation, which a commit folding the log records as folded. */
  get generation(): number {
    return this.gen;
  }

  /** The LSN of the last record appended. */
  get lastLsn(): number {
    return this.lsn;
  }

  /** Inodes with writes only in the log. */
  get logged(): ReadonlySet<Ino> {
    return this.inos;
  }

  /** Bytes of records in this generation. */
  get bytes(): number {
    return this.end - HEADER_BYTES;
  }

  /** Appends one record and syncs it: its changes and writes are durable when this returns. */
  append(changes: LoggedChange[], writes: LoggedWrite[]): void {
    const body = encodeBody(this.gen, this.lsn + 1, changes, writes);
    const frame = new Uint8Array(4 + body.length + 8);
    const view = new DataView(frame.buffer);
    view.setUint32(0, body.length, true);
    frame.set(body, 4);
    view.setBigUint64(4 + body.length, xxh3(body), true);
    try {
      this.grow(this.end + frame.length);
      if (this.end === HEADER_BYTES) this.writeHeader();
      this.file.seekSync(this.end, Deno.SeekMode.Start);
      writeAll(this.file, frame);
      this.file.syncDataSync();
    } catch (e) {
      // What was written is past `end`: the next append writes over it.
      if (/No space left|ENOSPC/.test((e as Error).message)) {
        throw new RevfsError("NO_SPACE", `no space left on the filesystem of ${this.path}`);
      }
      throw e;
    }
    this.end += frame.length;
    this.lsn++;
    for (const w of writes) this.inos.add(w.ino);
  }

  /**
   * After a commit marked what the log holds as in the store: the next generation starts,
   * empty. Its header is written over the old one with its first record (whose sync covers
   * both); records of older generations after it do not name it, so a reader stops there.
   */
  restart(): void {
    this.gen++;
    this.inos.clear();
    this.end = HEADER_BYTES;
  }

  /** Closes the file; one with nothing in this generation is emptied (nothing in it is needed). */
  close(): void {
    try {
      if (this.end === HEADER_BYTES) this.file.truncateSync(0);
    } finally {
      this.file.close();
    }
  }

  /** Zeros up to a whole number of GROW_BYTES past `size`, synced with the record that needs them. */
  private grow(size: number): void {
    if (size <= this.space) return;
    const to = Math.ceil(size / GROW_BYTES) * GROW_BYTES;
    this.file.seekSync(this.space, Deno.SeekMode.Start);
    writeAll(this.file, new Uint8Array(to - this.space));
    this.space = to;
  }

  private writeHeader(): void {
    const h = new Uint8Array(HEADER_BYTES);
    h.set(MAGIC);
    const view = new DataView(h.buffer);
    view.setUint32(8, VERSION, true);
    view.setUint32(12, this.gen, true);
    this.file.seekSync(0, Deno.SeekMode.Start);
    writeAll(this.file, h);
  }
}

function headerGen(bytes: Uint8Array, path: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const magicOk = MAGIC.every((b, i) => bytes[i] === b);
  if (!magicOk) throw new RevfsError("CORRUPT", `${path} is not a revfs write log`);
  const version = view.getUint32(8, true);
  if (version !== VERSION) {
    throw new RevfsError("NEWER_FORMAT", `${path} is a write log of version ${version}; this revfs reads ${VERSION}`);
  }
  return view.getUint32(12, true);
}

interface LogRecord {
  lsn: number;
  changes: LoggedChange[];
  writes: LoggedWrite[];
}

/** The generation's complete records, in order; the first torn or damaged one ends the log. */
function readRecords(bytes: Uint8Array, gen: number): LogRecord[] {
  const out: LogRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = HEADER_BYTES;
  while (pos + 4 <= bytes.length) {
    const len = view.getUint32(pos, true);
    if (pos + 4 + len + 8 > bytes.length) break;
    const body = bytes.subarray(pos + 4, pos + 4 + len);
    if (view.getBigUint64(pos + 4 + len, true) !== xxh3(body)) break;
    const r = decodeBody(body);
    if (r.gen !== gen) break;
    out.push(r);
    pos += 4 + len + 8;
  }
  return out;
}

function encodeBody(gen: number, lsn: number, changes: LoggedChange[], writes: LoggedWrite[]): Uint8Array {
  const w = new Writer().uint(gen).uint(lsn).uint(changes.length);
  for (const [table, key, value] of changes) {
    w.str(table).bytes(key);
    if (value === null) w.u8(0);
    else w.u8(1).bytes(value);
  }
  w.uint(writes.length);
  for (const f of writes) {
    w.uint(f.ino).uint(f.size).bigint(f.mtimeNs).uint(f.ranges.length);
    for (const [offset, bytes] of f.ranges) w.uint(offset).bytes(bytes);
  }
  return w.finish();
}

function decodeBody(body: Uint8Array): LogRecord & { gen: number } {
  const r = new Reader(body, "write log record");
  const gen = r.uint();
  const lsn = r.uint();
  const changes: LoggedChange[] = [];
  for (let n = r.uint(); n > 0; n--) {
    const table = r.str() as Table;
    if (!TABLES.includes(table)) throw new RevfsError("CORRUPT", `write log record: unknown table ${table}`);
    const key = r.bytes().slice();
    changes.push([table, key, r.u8() === 0 ? null : r.bytes().slice()]);
  }
  const writes: LoggedWrite[] = [];
  for (let n = r.uint(); n > 0; n--) {
    const ino = r.uint() as Ino;
    const size = r.uint();
    const mtimeNs = r.bigint();
    const ranges: [number, Uint8Array][] = [];
    for (let k = r.uint(); k > 0; k--) ranges.push([r.uint(), r.bytes().slice()]);
    writes.push({ ino, size, mtimeNs, ranges });
  }
  r.end();
  return { gen, lsn, changes, writes };
}

function readAll(file: Deno.FsFile): Uint8Array {
  const size = file.statSync().size;
  const out = new Uint8Array(size);
  file.seekSync(0, Deno.SeekMode.Start);
  for (let o = 0; o < size;) {
    const n = file.readSync(out.subarray(o));
    if (n === null || n === 0) return out.subarray(0, o);
    o += n;
  }
  return out;
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let o = 0; o < bytes.length;) o += file.writeSync(bytes.subarray(o));
}
