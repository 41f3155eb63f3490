/** Reading a byte range of a file from its blocks: shared by the head and revisions. */
import type { BlockHash } from "./types.ts";

/**
 * Bytes [offset, offset+length) of a file of `size` bytes, clipped at its end, from
 * its blocks: `blockAt` names block i's hash (null: a hole), `load` reads it.
 */
export function readRange(
  size: number,
  offset: number,
  length: number,
  blockSize: number,
  blockAt: (index: number) => BlockHash | null,
  load: (hash: BlockHash) => Uint8Array,
): Uint8Array {
  const end = Math.min(size, offset + length);
  if (end <= offset) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  for (let idx = Math.floor(offset / blockSize); idx * blockSize < end; idx++) {
    const h = blockAt(idx);
    if (h === null) continue;
    const data = load(h);
    const blockStart = idx * blockSize;
    const from = Math.max(offset, blockStart) - blockStart;
    const to = Math.min(end - blockStart, data.length);
    if (to > from) out.set(data.subarray(from, to), blockStart + from - offset);
  }
  return out;
}
