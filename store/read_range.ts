/** Reading a byte range of a file from its blocks: shared by the head, revisions and the mount. */

/**
 * Bytes [offset, offset+length) of a file of `size` bytes, clipped at its end:
 * `blockData(i)` gives block i's bytes (null for a hole; shorter than a block means
 * the rest is zeros).
 */
export function readRange(
  size: number,
  offset: number,
  length: number,
  blockSize: number,
  blockData: (index: number) => Uint8Array | null,
): Uint8Array {
  const end = Math.min(size, offset + length);
  if (end <= offset) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  for (let idx = Math.floor(offset / blockSize); idx * blockSize < end; idx++) {
    const data = blockData(idx);
    if (data === null) continue;
    const blockStart = idx * blockSize;
    const from = Math.max(offset, blockStart) - blockStart;
    const to = Math.min(end - blockStart, data.length);
    if (to > from) out.set(data.subarray(from, to), blockStart + from - offset);
  }
  return out;
}
