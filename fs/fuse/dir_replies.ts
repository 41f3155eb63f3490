/**
 * Replies to readdir and readdirplus: as many entries as fit in the kernel's buffer,
 * each numbered by its position (the offset the next call resumes from), packed by
 * libfuse's fuse_add_direntry(_plus).
 */
import type { Fuse } from "./libfuse.ts";
import { LAYOUT as L } from "./layout.ts";
import type { DirEntryOut, EntryOut } from "./ops.ts";
import { cstr, entryBuffer, num, unlistedEntry } from "./structs.ts";

type Ptr = Deno.PointerValue;

/** An entry's size in a readdirplus reply depends on its name only: any entry param sizes it. */
const SIZING = new Uint8Array(L.fuse_entry_param);

/** `entries` from position `start` on, names and types only. */
export function replyDir(fuse: Fuse, req: Ptr, entries: DirEntryOut[], start: number, max: number): void {
  const buf = new Uint8Array(max);
  let used = 0;
  const st = new Uint8Array(L.stat);
  const sv = new DataView(st.buffer);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    sv.setBigUint64(L["stat.st_ino"], BigInt(e.ino), true);
    sv.setUint32(L["stat.st_mode"], e.mode, true);
    const name = cstr(e.name);
    const rest = buf.subarray(used);
    const need = num(fuse.fuse_add_direntry(req, rest, BigInt(rest.length), name, st, BigInt(start + i + 1)));
    if (need > rest.length) break;
    used += need;
  }
  fuse.fuse_reply_buf(req, buf, BigInt(used));
}

/**
 * `entries` with their attributes while they fit; `lookup` is asked for an entry only
 * once it fits, since the kernel counts each entry it takes as a lookup.
 */
export function replyDirPlus(
  fuse: Fuse,
  req: Ptr,
  entries: DirEntryOut[],
  start: number,
  max: number,
  lookup: (e: DirEntryOut) => EntryOut | undefined,
): void {
  const buf = new Uint8Array(max);
  let used = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const name = cstr(e.name);
    const off = BigInt(start + i + 1);
    const need = num(fuse.fuse_add_direntry_plus(req, null, 0n, name, SIZING, off));
    if (used + need > max) break;
    const entry = lookup(e);
    const param = entry ? entryBuffer(entry) : unlistedEntry(e);
    used += num(fuse.fuse_add_direntry_plus(req, buf.subarray(used), BigInt(max - used), name, param, off));
  }
  fuse.fuse_reply_buf(req, buf, BigInt(used));
}
