/**
 * Ranges of a file that a copy-on-write store changes by moving block hashes, not
 * bytes: copy_file_range shares whole blocks (a reflink: nothing new is stored, however
 * large the file), and fallocate's PUNCH_HOLE turns whole blocks into holes. The bytes
 * around whole blocks go through the trees' ordinary read and write.
 */
import { type BlockHash, gather, type HeadApi, type Ino } from "../mod.ts";
import { Errno, FuseError } from "./fuse/ops.ts";
import type { Tree } from "./node.ts";

/** fallocate(2) modes. */
const FALLOC_FL_KEEP_SIZE = 1, FALLOC_FL_PUNCH_HOLE = 2;
/** Bytes moved per read and write where whole blocks cannot be shared. */
const CHUNK = 1 << 20;

/** A file of a tree. */
export interface FileRef {
  tree: Tree;
  ino: number;
}

/**
 * copy_file_range(2) from `src` into `dst`, a head file: whole blocks at the same offset
 * within a block in both files are shared; the rest is copied. Returns bytes copied.
 */
export async function copyRange(
  head: HeadApi,
  blockSize: number,
  src: FileRef,
  offIn: number,
  dst: FileRef,
  offOut: number,
  len: number,
): Promise<number> {
  const from = src.tree.storedBlocks(src.ino);
  const n = Math.max(0, Math.min(len, from.size - offIn));
  if (n === 0) return 0;
  const bs = blockSize;
  const first = Math.ceil(offOut / bs), end = Math.floor((offOut + n) / bs);
  // An inline block 0 has no record to share.
  if ((offIn - offOut) % bs !== 0 || end <= first || from.inline0) {
    await copyBytes(src, offIn, dst, offOut, n);
    return n;
  }
  dst.tree.storePending(dst.ino); // shared blocks replace what it had pending
  const shift = (offIn - offOut) / bs;
  const byIndex = new Map(from.blocks);
  const blocks: [number, BlockHash | null][] = [];
  for (let j = first; j < end; j++) blocks.push([j, byIndex.get(j + shift) ?? null]);
  head.shareBlocks(dst.ino as Ino, end * bs, blocks);
  await copyBytes(src, offIn, dst, offOut, first * bs - offOut);
  await copyBytes(src, offIn + (end * bs - offOut), dst, end * bs, offOut + n - end * bs);
  return n;
}

/**
 * fallocate(2) on a head file. Blocks are not reserved ahead (the store allocates when
 * it writes): mode 0 grows the file, KEEP_SIZE does nothing, PUNCH_HOLE|KEEP_SIZE makes
 * whole blocks holes and zeroes the bytes around them. Other modes are EOPNOTSUPP.
 */
export function fallocate(head: HeadApi, blockSize: number, f: FileRef, mode: number, offset: number, length: number) {
  if (offset < 0 || length <= 0) throw new FuseError(Errno.EINVAL);
  // Holes replace what the file had pending; its size is then the stored one.
  f.tree.storePending(f.ino);
  const { size } = f.tree.getattr(f.ino).attr;
  if (mode === 0 || mode === FALLOC_FL_KEEP_SIZE) {
    if (mode === 0 && offset + length > size) f.tree.setattr(f.ino, { size: offset + length });
    return;
  }
  if (mode !== (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) throw new FuseError(Errno.ENOTSUP);
  const end = Math.min(offset + length, size);
  if (end <= offset) return;
  const first = Math.ceil(offset / blockSize), last = Math.floor(end / blockSize);
  if (last <= first) return zero(f, offset, end);
  const holes: [number, BlockHash | null][] = [];
  for (let j = first; j < last; j++) holes.push([j, null]);
  head.shareBlocks(f.ino as Ino, size, holes);
  zero(f, offset, first * blockSize);
  zero(f, last * blockSize, end);
}

function zero(f: FileRef, from: number, to: number): void {
  for (let at = from; at < to; at += CHUNK) f.tree.write(f.ino, new Uint8Array(Math.min(CHUNK, to - at)), at);
}

/** Copies `n` bytes through the trees, a megabyte at a time. */
async function copyBytes(src: FileRef, offIn: number, dst: FileRef, offOut: number, n: number): Promise<void> {
  for (let done = 0; done < n;) {
    // The views last only until the next call into the tree, and those given at once
    // (possibly of the store's memory) only until this task yields: gather them first.
    const read = src.tree.read(src.ino, Math.min(CHUNK, n - done), offIn + done);
    const data = gather(read instanceof Promise ? await read : read);
    if (data.length === 0) break;
    dst.tree.write(dst.ino, data, offOut + done);
    done += data.length;
  }
}
