/**
 * The head's write log, after ZFS's intent log: an fsync of a few small writes appends
 * them to STORE/head.log and syncs that one file, instead of storing the whole blocks
 * they touch in an LMDB commit (a 4 KiB database page would rewrite a 64 KiB block and
 * pay two syncs). The writer keeps the logged writes in memory and later stores them as
 * blocks in one writeout that covers every logged file; that commit records the log's
 * generation as folded, and the log starts its next generation empty.
 *
 * After a crash, the next writer to open the store replays a log whose generation is
 * newer than the folded one (store.ts), before anything else changes the head. Records
 * of inodes that are gone are skipped: inode numbers are never reused. A record cut
 * short or failing its checksum ends the log: its append never returned.
 *
 * Layout (FORMAT.md, "Write log"): a 16-byte header, "revfslog", u32 version, u32 gen;
 * then records of u32 body length, body, u64 XXH3-64 of the body (all little-endian).
 */
import { Reader, Writer } from "../codec.ts";
import { xxh3 } from "../blocks/checksum.ts";
import { type Ino, RevfsError } from "../types.ts";

export const WRITE_LOG_FILE = "head.log";

const MAGIC = new TextEncoder().encode("revfslog");
const VERSION = 1;
const HEADER_BYTES = 16;

/** One file's writes in one fsync: its size and mtime then, and byte ranges with their new bytes. */
export interface LoggedWrite {
  ino: Ino;
  size: number;
  mtimeNs: bigint;
  ranges: [offset: number, bytes: Uint8Array][];
}

export class WriteLog {
  /** Inodes with writes in this generation. */
  private readonly inos = new Set<Ino>();
  private end = HEADER_BYTES;

  private constructor(private readonly file: Deno.FsFile, private readonly path: string, private gen: number) {}

  /**
   * Opens (or creates) `dir`'s log. `unfolded` is what a crashed writer logged after the
   * last fold (its generation `gen` above `foldedGen`): the caller folds it and records
   * `gen` as folded before it appends (the first append empties the file).
   */
  static open(dir: string, foldedGen: number): { log: WriteLog; unfolded: LoggedWrite[]; gen: number } {
    const path = `${dir}/${WRITE_LOG_FILE}`;
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    try {
      const bytes = readAll(file);
      const gen = bytes.length >= HEADER_BYTES ? headerGen(bytes, path) : 0;
      const unfolded = gen > foldedGen ? readRecords(bytes, gen) : [];
      const log = new WriteLog(file, path, Math.max(gen, foldedGen) + 1);
      return { log, unfolded, gen };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Whether `dir` has a log with records (which may all be folded already): a stat, no read. */
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

  /** Inodes with writes only in the log. */
  get logged(): ReadonlySet<Ino> {
    return this.inos;
  }

  /** Bytes of records in this generation. */
  get bytes(): number {
    return this.end - HEADER_BYTES;
  }

  /** Appends one record and syncs it: the writes are durable when this returns. */
  append(writes: LoggedWrite[]): void {
    const body = encodeBody(this.gen, writes);
    const frame = new Uint8Array(4 + body.length + 8);
    const view = new DataView(frame.buffer);
    view.setUint32(0, body.length, true);
    frame.set(body, 4);
    view.setBigUint64(4 + body.length, xxh3(body), true);
    try {
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
    for (const w of writes) this.inos.add(w.ino);
  }

  /**
   * After a commit recorded this generation as folded: the next one starts empty. Its
   * header is written with its first record (whose sync covers both); until then an
   * empty file, or this generation's records, which the folded mark says to skip.
   */
  restart(): void {
    this.gen++;
    this.inos.clear();
    this.end = HEADER_BYTES;
    this.file.truncateSync(0);
  }

  close(): void {
    this.file.close();
  }

  private writeHeader(): void {
    const h = new Uint8Array(HEADER_BYTES);
    h.set(MAGIC);
    const view = new DataView(h.buffer);
    view.setUint32(8, VERSION, true);
    view.setUint32(12, this.gen, true);
    this.file.truncateSync(0);
    this.file.seekSync(0, Deno.SeekMode.Start);
    writeAll(this.file, h);
  }

  toString(): string {
    return this.path;
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

/** The generation's complete records, in order; the first torn or damaged one ends the log. */
function readRecords(bytes: Uint8Array, gen: number): LoggedWrite[] {
  const out: LoggedWrite[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = HEADER_BYTES;
  while (pos + 4 <= bytes.length) {
    const len = view.getUint32(pos, true);
    if (pos + 4 + len + 8 > bytes.length) break;
    const body = bytes.subarray(pos + 4, pos + 4 + len);
    if (view.getBigUint64(pos + 4 + len, true) !== xxh3(body)) break;
    const decoded = decodeBody(body);
    if (decoded.gen !== gen) break;
    out.push(...decoded.writes);
    pos += 4 + len + 8;
  }
  return out;
}

function encodeBody(gen: number, writes: LoggedWrite[]): Uint8Array {
  const w = new Writer().uint(gen).uint(writes.length);
  for (const f of writes) {
    w.uint(f.ino).uint(f.size).bigint(f.mtimeNs).uint(f.ranges.length);
    for (const [offset, bytes] of f.ranges) w.uint(offset).bytes(bytes);
  }
  return w.finish();
}

function decodeBody(body: Uint8Array): { gen: number; writes: LoggedWrite[] } {
  const r = new Reader(body, "write log record");
  const gen = r.uint();
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
  return { gen, writes };
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
