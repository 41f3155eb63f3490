/**
 * Replies to readdir and readdirplus: as many entries as fit in the kernel's buffer,
 * each numbered by its position (the offset the next call resumes from).
 *
 * The entries are packed here, in the kernel's wire format (struct fuse_dirent and
 * fuse_direntplus of <linux/fuse.h>, offsets checked by tests/fuse_layout_test.ts),
 * into one reused buffer sent with one fuse_reply_buf. libfuse's fuse_add_direntry_plus
 * would pack the same bytes, but at one or two FFI calls and a C string and a
 * fuse_entry_param per entry it took most of a walk's readdirplus time.
 */
import type { Fuse } from "./libfuse.ts";
import { LAYOUT as L } from "./layout.ts";
import type { Attr, DirEntryOut, EntryOut, ListingPart } from "./ops.ts";
import { secondsOf, set64, ST_BLKSIZE, stBlocks } from "./structs.ts";

type Ptr = Deno.PointerValue;

const DIRENT = L.FUSE_NAME_OFFSET;
const DIRENTPLUS = L.FUSE_NAME_OFFSET_DIRENTPLUS;
const AT_DIRENT = L["fuse_direntplus.dirent"];
const AT_ATTR = L["fuse_entry_out.attr"];
const S_IFMT = 0o170000;

const enc = new TextEncoder();
/** Replies are sent before the next request is served, so one buffer serves them all. */
let scratch = new Uint8Array(4096);
let view = new DataView(scratch.buffer);

/** A listing's part, names and types only. */
export function replyDir(fuse: Fuse, req: Ptr, { entries, from, base }: ListingPart, max: number): void {
  const buf = bufferOf(max);
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const e = entries[i];
    const name = utf8(e.name);
    const size = align8(DIRENT + name.length);
    if (used + size > max) break;
    putDirent(used, e.ino, base + i + 1, e.mode, name, size - DIRENT - name.length);
    used += size;
  }
  fuse.fuse_reply_buf(req, buf, BigInt(used));
}

/**
 * `entries` with their attributes while they fit; `lookup` is asked for an entry only
 * once it fits, since the kernel counts each entry it takes as a lookup. An entry
 * without attributes (node id 0) tells the kernel to look it up itself when needed.
 */
export function replyDirPlus(
  fuse: Fuse,
  req: Ptr,
  { entries, from, base }: ListingPart,
  max: number,
  lookup: (e: DirEntryOut) => EntryOut | undefined,
): void {
  const buf = bufferOf(max);
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const e = entries[i];
    const name = utf8(e.name);
    const size = align8(DIRENTPLUS + name.length);
    if (used + size > max) break;
    const entry = lookup(e);
    buf.fill(0, used, used + AT_DIRENT);
    if (entry) putEntryOut(used, entry);
    putDirent(used + AT_DIRENT, e.ino, base + i + 1, e.mode, name, size - DIRENTPLUS - name.length);
    used += size;
  }
  fuse.fuse_reply_buf(req, buf, BigInt(used));
}

function bufferOf(max: number): Uint8Array {
  if (scratch.length < max) {
    scratch = new Uint8Array(max);
    view = new DataView(scratch.buffer);
  }
  return scratch;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A name's UTF-8 bytes; ASCII (nearly every name) without a call into the runtime. */
const ascii = new Uint8Array(256);
function utf8(s: string): Uint8Array {
  if (s.length > ascii.length) return enc.encode(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return enc.encode(s);
    ascii[i] = c;
  }
  return ascii.subarray(0, s.length);
}

function putDirent(at: number, ino: number, off: number, mode: number, name: Uint8Array, pad: number): void {
  set64(view, at + L["fuse_dirent.ino"], ino);
  set64(view, at + L["fuse_dirent.off"], off);
  view.setUint32(at + L["fuse_dirent.namelen"], name.length, true);
  view.setUint32(at + L["fuse_dirent.type"], (mode & S_IFMT) >>> 12, true);
  scratch.set(name, at + DIRENT);
  scratch.fill(0, at + DIRENT + name.length, at + DIRENT + name.length + pad);
}

/** struct fuse_entry_out as libfuse's fill_entry writes it from a fuse_entry_param. */
function putEntryOut(at: number, e: EntryOut): void {
  set64(view, at + L["fuse_entry_out.nodeid"], e.attr.ino);
  set64(view, at + L["fuse_entry_out.generation"], 1);
  putTimeout(at + L["fuse_entry_out.entry_valid"], at + L["fuse_entry_out.entry_valid_nsec"], e.entryTimeout);
  putTimeout(at + L["fuse_entry_out.attr_valid"], at + L["fuse_entry_out.attr_valid_nsec"], e.attrTimeout);
  putAttr(at + AT_ATTR, e.attr);
}

function putAttr(at: number, a: Attr): void {
  set64(view, at + L["fuse_attr.ino"], a.ino);
  set64(view, at + L["fuse_attr.size"], a.size);
  set64(view, at + L["fuse_attr.blocks"], stBlocks(a.size));
  putTime(at + L["fuse_attr.atime"], at + L["fuse_attr.atimensec"], a.atimeNs);
  putTime(at + L["fuse_attr.mtime"], at + L["fuse_attr.mtimensec"], a.mtimeNs);
  putTime(at + L["fuse_attr.ctime"], at + L["fuse_attr.ctimensec"], a.ctimeNs);
  view.setUint32(at + L["fuse_attr.mode"], a.mode, true);
  view.setUint32(at + L["fuse_attr.nlink"], a.nlink, true);
  view.setUint32(at + L["fuse_attr.uid"], a.uid, true);
  view.setUint32(at + L["fuse_attr.gid"], a.gid, true);
  view.setUint32(at + L["fuse_attr.rdev"], a.rdev ?? 0, true);
  view.setUint32(at + L["fuse_attr.blksize"], ST_BLKSIZE, true);
}

function putTime(secAt: number, nsecAt: number, ns: bigint): void {
  const [sec, nsec] = secondsOf(ns);
  set64(view, secAt, sec);
  view.setUint32(nsecAt, nsec, true);
}

/** Seconds and nanoseconds of a timeout, clamped as libfuse's calc_timeout_sec/nsec do. */
function putTimeout(secAt: number, nsecAt: number, t: number): void {
  const sec = t > 0 ? Math.floor(t) : 0;
  set64(view, secAt, sec);
  view.setUint32(nsecAt, t > 0 ? Math.min(999_999_999, Math.floor((t - sec) * 1e9)) : 0, true);
}
