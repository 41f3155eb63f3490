/**
 * Readers of files followed by where their next read in order starts: what read-ahead
 * keys on (fs/block_loads.ts for the loader threads, fs/head_prefetch.ts for the disk).
 * Each reader carries its own state beside `next`; the least recently read are
 * forgotten past a bound.
 */
export class ReadStreams<K, S extends { next: number }> {
  private readonly streams = new Map<K, S>();

  constructor(private readonly blockSize: number, private readonly max: number) {}

  /**
   * After a read of [offset, end) by `key`: its state, `next` moved past the read, when
   * the read continues its last one (the kernel's reads in flight may arrive a little
   * out of order); else undefined, and the reader starts afresh as `fresh`.
   */
  follow(key: K, offset: number, end: number, fresh: S): S | undefined {
    const s = this.streams.get(key);
    const bs = this.blockSize;
    this.streams.delete(key);
    if (s === undefined || offset < s.next - 2 * bs || offset > s.next + 2 * bs) {
      this.streams.set(key, fresh);
      if (this.streams.size > this.max) this.streams.delete(this.streams.keys().next().value!);
      return undefined;
    }
    s.next = Math.max(end, s.next);
    this.streams.set(key, s);
    return s;
  }

  forget(key: K): void {
    this.streams.delete(key);
  }
}
