/** Reading a byte range of a file from its blocks: shared by the head, revisions and the mount. */

/**
 * Bytes [offset, offset+length) of a file of `size` bytes, clipped at its end, as views
 * in order: the blocks' own bytes where they have them and `zeros` (zeroBlock) for
 * holes and the zero tails of trimmed blocks. `blockData(i)`
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

/** A block of zeros at least `blockSize` long, shared and never written. */
let sharedZeros = new Uint8Array(0);
export function zeroBlock(blockSize: number): Uint8Array {
  if (sharedZeros.length < blockSize) sharedZeros = new Uint8Array(blockSize);
  return sharedZeros;
}

/** Segments copied into one buffer; zero segments are skipped (the buffer starts zeroed). */
export function gather(segments: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(segments.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of segments) {
    if (s.buffer !== sharedZeros.buffer) out.set(s, at);
    at += s.length;
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
  return gather(rangeSegments(size, offset, length, blockSize, blockData, zeroBlock(blockSize)));
}
