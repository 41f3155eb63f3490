/**
 * Encoding and decoding the C structs libfuse's low-level API passes: stat,
 * fuse_entry_param, fuse_file_info, and strings from the kernel. Offsets come from
 * fs/fuse/layout.ts, checked against the C compiler by tests/fuse_layout_test.ts.
 */
import { LAYOUT as L } from "./layout.ts";
import { type Attr, type EntryOut, Errno, FuseError, type OpenOut } from "./ops.ts";

type Ptr = Deno.PointerValue;

const enc = new TextEncoder();
/**
 * `s` NUL-terminated, in UTF-8. ASCII (most names) is copied here: TextEncoder is a call
 * into Deno's runtime, a tenth of a readdirplus's time.
 */
export function cstr(s: string): Uint8Array {
  const out = new Uint8Array(s.length + 1);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return enc.encode(s + "\0");
    out[i] = c;
  }
  return out;
}

export function num(v: number | bigint): number {
  return typeof v === "bigint" ? Number(v) : v;
}

/** st_blksize as the mount reports it: its block size. */
export const ST_BLKSIZE = 65536;

/** st_blocks: 512-byte units, as if every byte were stored. */
export function stBlocks(size: number): number {
  return Math.ceil(size / 512);
}

/** An integer as a little-endian 64-bit two's complement, in two halves: a BigInt per field cost a microsecond. */
export function set64(view: DataView, at: number, n: number): void {
  view.setUint32(at, n >>> 0, true);
  view.setInt32(at + 4, Math.floor(n / 2 ** 32), true);
}

function writeStat(view: DataView, at: number, a: Attr): void {
  set64(view, at + L["stat.st_ino"], a.ino);
  set64(view, at + L["stat.st_nlink"], a.nlink);
  view.setUint32(at + L["stat.st_mode"], a.mode, true);
  view.setUint32(at + L["stat.st_uid"], a.uid, true);
  view.setUint32(at + L["stat.st_gid"], a.gid, true);
  set64(view, at + L["stat.st_rdev"], a.rdev ?? 0);
  set64(view, at + L["stat.st_size"], a.size);
  set64(view, at + L["stat.st_blksize"], ST_BLKSIZE);
  set64(view, at + L["stat.st_blocks"], stBlocks(a.size));
  setTime(view, at + L["stat.st_atim"], a.atimeNs);
  setTime(view, at + L["stat.st_mtim"], a.mtimeNs);
  setTime(view, at + L["stat.st_ctim"], a.ctimeNs);
}

/** A struct timespec. */
function setTime(view: DataView, at: number, ns: bigint): void {
  const [sec, nsec] = secondsOf(ns);
  set64(view, at, sec);
  set64(view, at + 8, nsec);
}

const int64 = new BigInt64Array(1);
const int64Halves = new Uint32Array(int64.buffer);
const NS = 1_000_000_000;

/**
 * Whole seconds (rounded down, also before 1970) and the nanoseconds past them, as in a
 * timespec. A time after 1970 is divided as two 32-bit halves, 16 bits a step, in
 * numbers: BigInt division made four BigInts per time, twelve per stat replied.
 */
export function secondsOf(ns: bigint): [number, number] {
  if (ns >= 0n && ns < 0x7fff_ffff_ffff_ffffn) {
    int64[0] = ns;
    const hi = int64Halves[1], lo = int64Halves[0];
    let r = hi % NS;
    let t = r * 0x10000 + (lo >>> 16);
    const q2 = Math.floor(t / NS);
    r = t % NS;
    t = r * 0x10000 + (lo & 0xffff);
    const q3 = Math.floor(t / NS);
    return [(Math.floor(hi / NS) * 0x10000 + q2) * 0x10000 + q3, t % NS];
  }
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return [Number(sec), Number(nsec)];
}

/**
 * The structs a reply passes, one of each, rewritten per reply: libfuse copies them into
 * the reply it writes before the call returns. A new ArrayBuffer per reply cost a
 * microsecond or more, a twelfth of a lookup's time.
 */
function replyStruct(size: number): [Uint8Array, DataView] {
  const b = new Uint8Array(size);
  return [b, new DataView(b.buffer)];
}
const [statBytes, statView] = replyStruct(L.stat);
const [entryBytes, entryView] = replyStruct(L.fuse_entry_param);
const [fileInfoBytes, fileInfoView] = replyStruct(L.fuse_file_info);

/** A struct stat for a reply, valid until the next call. */
export function statBuffer(a: Attr): Uint8Array {
  statBytes.fill(0);
  writeStat(statView, 0, a);
  return statBytes;
}

/** A struct fuse_entry_param for a reply, valid until the next call. */
export function entryBuffer(e: EntryOut): Uint8Array {
  entryBytes.fill(0);
  const v = entryView;
  set64(v, L["fuse_entry_param.ino"], e.attr.ino);
  set64(v, L["fuse_entry_param.generation"], 1);
  writeStat(v, L["fuse_entry_param.attr"], e.attr);
  v.setFloat64(L["fuse_entry_param.attr_timeout"], e.attrTimeout, true);
  v.setFloat64(L["fuse_entry_param.entry_timeout"], e.entryTimeout, true);
  return entryBytes;
}

/** A struct fuse_file_info for a reply, valid until the next call. */
export function fileInfoBuffer(o: OpenOut, flags: number): Uint8Array {
  const b = fileInfoBytes;
  b.fill(0);
  const v = fileInfoView;
  v.setInt32(L["fuse_file_info.flags"], flags, true);
  set64(v, L["fuse_file_info.fh"], o.fh);
  const bit = (n: number) => (b[n >> 3] |= 1 << (n & 7));
  if (o.directIo) bit(L["fuse_file_info.direct_io_bit"]);
  if (o.keepCache) bit(L["fuse_file_info.keep_cache_bit"]);
  return b;
}

export function fileInfo(fi: Ptr): { fh: number; flags: number } {
  if (fi === null) return { fh: 0, flags: 0 };
  const v = new Deno.UnsafePointerView(fi);
  return { fh: num(v.getBigUint64(L["fuse_file_info.fh"])), flags: v.getInt32(L["fuse_file_info.flags"]) };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A name or link target from the kernel. Names are UTF-8 in the store: a name that is
 * not is refused (EILSEQ) rather than decoded lossily, where two names would collide.
 * Called inside a request's handler, so the error is its reply.
 */
export function cString(p: Ptr): string {
  if (p === null) return "";
  const s = Deno.UnsafePointerView.getCString(p);
  // The native decoder is lossy; only a name showing U+FFFD needs the strict look.
  if (!s.includes("\uFFFD")) return s;
  const view = new Deno.UnsafePointerView(p);
  let len = 0;
  while (view.getUint8(len) !== 0) len++;
  try {
    return strictUtf8.decode(new Uint8Array(view.getArrayBuffer(len)));
  } catch {
    throw new FuseError(Errno.EILSEQ);
  }
}
