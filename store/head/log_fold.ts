/**
 * Folding the write log (store/head/write_log.ts) into the head: the commit that stores
 * logged writes as blocks marks the log's generation folded (meta `logFolded`), and a
 * crashed writer's log becomes writeouts of its writes, in order, over the head's blocks.
 */
import { readU64, u64Key, utf8 } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import type { FileWriteout } from "./file_blocks.ts";
import type { Head } from "./head.ts";
import type { LoggedWrite } from "./write_log.ts";
import type { Ino } from "../types.ts";

const META_FOLDED = utf8.encode("logFolded");

/** The last generation of the write log whose writes the head holds (0: none yet). */
export function foldedGeneration(records: RecordStore): number {
  const v = records.get("meta", META_FOLDED);
  return v ? readU64(v) : 0;
}

/** Inside the transaction that stores a generation's writes. */
export function markFolded(records: RecordStore, gen: number): void {
  records.put("meta", META_FOLDED, u64Key(gen));
}

const EMPTY = new Uint8Array(0);

/** The writeouts that make the head hold what `logged` wrote; files that are gone are skipped. */
export function writeoutsOf(logged: LoggedWrite[], head: Head): FileWriteout[] {
  const bs = head.blockSize;
  const files = new Map<Ino, FileWriteout & { pages: Map<number, Uint8Array> }>();
  for (const w of logged) {
    const inode = head.inodes.get(w.ino);
    if (inode?.type !== "file") continue;
    let f = files.get(w.ino);
    if (!f) files.set(w.ino, f = { ino: w.ino, size: w.size, mtimeNs: w.mtimeNs, blocks: [], pages: new Map() });
    f.size = w.size;
    f.mtimeNs = w.mtimeNs;
    for (const [offset, bytes] of w.ranges) {
      const end = offset + bytes.length;
      for (let idx = Math.floor(offset / bs); idx * bs < end; idx++) {
        const start = idx * bs;
        const from = Math.max(offset, start);
        const to = Math.min(end, start + bs);
        let page = f.pages.get(idx);
        if (!page || page.length < to - start) {
          const old = page ?? head.files.blockBytes(inode, idx) ?? EMPTY;
          page = new Uint8Array(Math.max(old.length, to - start));
          page.set(old);
          f.pages.set(idx, page);
        }
        page.set(bytes.subarray(from - offset, to - offset), from - start);
      }
    }
  }
  return [...files.values()].map(({ ino, size, mtimeNs, pages }) => ({
    ino,
    size,
    mtimeNs,
    blocks: [...pages].sort((a, b) => a[0] - b[0]),
  }));
}
