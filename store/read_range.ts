/** Reading a byte range of a file from its blocks: shared by the head, revisions and the mount. */

/**
 * Bytes [offset, offset+length) of a file of `size` bytes, clipped at its end, as views
 * in order: the blocks' own bytes where they have them and `zeros` (at least a block
 * long, never written) for holes and the zero tails of trimmed blocks. `blockData(i)`
 * gives block i's bytes (null for a hole; shorter than a block means the rest is zeros).
 * The mount hands these views to the kernel without copying them into one buffer.
 */
export function rangeSegments(
  size: number,
  offset: number,
  length: number,
  blockSize: number,
  blockData: (index: number) => Uint8Array | null,
  zeros: Uint8Array,
): Uint8Array[] {
  const end = Math.min(size, offset + length);
  const out: Uint8Array[] = [];
  for (let idx = Math.floor(offset / blockSize); idx * blockSize < end; idx++) {
    const blockStart = idx * blockSize;
    const from = Math.max(offset, blockStart) - blockStart;
    const to = Math.min(end - blockStart, blockSize);
    const data = blockData(idx) ?? zeros.subarray(0, 0);
    const have = Math.min(to, data.length);
    if (have > from) out.push(data.subarray(from, have));
    const zeroFrom = Math.max(from, have);
    if (to > zeroFrom) out.push(zeros.subarray(0, to - zeroFrom));
  }
  return out;
}

/** The same range as one buffer. */
export function readRange(
  size: number,
  offset: number,
  length: number,
  blockSize: number,
  blockData: (index: number) => Uint8Array | null,
): Uint8Array {
  const zeros = new Uint8Array(blockSize);
  const segments = rangeSegments(size, offset, length, blockSize, blockData, zeros);
  const out = new Uint8Array(segments.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of segments) {
    // The output starts zeroed; zero segments only advance.
    if (s.buffer !== zeros.buffer) out.set(s, at);
    at += s.length;
  }
  return out;
}
