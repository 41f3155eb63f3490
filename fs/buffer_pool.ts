/**
 * Block buffers for reuse: a block-sized buffer the cache lets go (an evicted block, a
 * written-out page) is loaded into again instead of being left to V8's garbage
 * collector, which frees it late (memory over the budget) and whose fresh buffers cost
 * page faults.
 *
 * When a buffer may be reused: one let go during a call becomes reusable only at the
 * next call that reads or writes (`nextCall`), since a view handed out by a call is
 * answered (sent to the kernel) before the next request is served. Views handed out
 * after a wait for a load are answered later, while other requests run: their buffers
 * are held back (`escape`) until the reply is sent (`sent`). A buffer let go while held
 * back is left to the garbage collector, and so is one the pool has no room for: each
 * is reported (`dropped`) so that the collector can be asked to free them
 * (fs/memory_release.ts).
 */

/** The smallest dirty page: a small file's page grows from this by doubling. */
const MIN_PAGE_BYTES = 4096;

/**
 * Block buffers kept for reuse: at most this many, and at most a quarter of the budget.
 * As many as one writeout lets go (32 MiB: dirty_pages.ts): a file saved whole again
 * replaces a cached copy of each unchanged block, and with half that many kept, saving
 * a 64 MiB file 50 times dropped 16 MiB a writeout for V8 to collect (31 forced
 * collections, 18.4-18.7 s; with 512, 0-2 and 15.6-16.6 s).
 */
const MAX_SPARE_BUFFERS = 512;
/**
 * Room the clean blocks leave for spare buffers, in blocks: as many as reads keep in
 * flight (the kernel asks for 1 MiB at a time, several at once, and readahead keeps up
 * to 64 loads going), since a buffer let go is reused only from the next call, or
 * after its reply is sent. A full cache with no room left dropped every evicted buffer
 * and read each block into a fresh one: 1 GiB read cold cost the JS thread 1.3 s of
 * system time in page faults, and V8's helpers 0.5 s freeing. Measured on 2 cores, 1 GiB
 * read cold through .snapshots: median 2.3-2.8 s with 128, 2.9-3.2 s with 32.
 */
const SPARE_ROOM_BLOCKS = 128;

/** A cache of `budgetBytes`: how many spare buffers its pool keeps, and the room its clean blocks leave them. */
export function spareBuffersFor(budgetBytes: number, blockSize: number): { maxSpare: number; spareRoom: number } {
  const maxSpare = Math.min(MAX_SPARE_BUFFERS, Math.floor(budgetBytes / 4 / blockSize));
  return { maxSpare, spareRoom: Math.min(maxSpare, SPARE_ROOM_BLOCKS) * blockSize };
}

export class BufferPool {
  /** Let go during this call (reusable from the next). */
  private retired: ArrayBuffer[] = [];
  /** Reusable now. */
  private readonly spare: ArrayBuffer[] = [];
  /** Buffers of views handed out after a wait, by replies still to come (one buffer may be in several). */
  private readonly escaped = new WeakMap<ArrayBuffer, number>();
  /** The replies those are: a reply's `sent` releases only what its own `escape` held. */
  private readonly held = new WeakSet<Uint8Array[]>();

  /**
   * `room`: bytes the pool may hold besides what the cache holds (its budget less its
   * clean and dirty bytes). A buffer let go beyond it is dropped, so the pool's buffers
   * count within the cache's budget rather than on top of it.
   */
  constructor(
    readonly blockSize: number,
    private readonly maxSpare: number,
    private readonly room: () => number = () => Infinity,
    /** Bytes of buffers just left to the garbage collector. */
    private readonly onDrop: (bytes: number) => void = () => {},
  ) {}

  /** Memory the pool holds (spare buffers, and those let go during this call): a part of the cache's budget. */
  get heldBytes(): number {
    return (this.spare.length + this.retired.length) * this.blockSize;
  }

  /** True for a whole block buffer of this pool's size (what may be reused). */
  isBlockBuffer(v: Uint8Array): boolean {
    return v.byteOffset === 0 && v.buffer.byteLength === this.blockSize;
  }

  /** Memory a block holds: its whole buffer when that is a block buffer. */
  footprint(v: Uint8Array): number {
    return this.isBlockBuffer(v) ? this.blockSize : v.byteLength;
  }

  /** A block-sized buffer, reused when one is spare (its old bytes still in it unless `zeroed`). */
  take(zeroed = false): Uint8Array {
    const b = this.spare.pop();
    if (!b) return new Uint8Array(this.blockSize);
    const buf = new Uint8Array(b);
    if (zeroed) buf.fill(0);
    return buf;
  }

  /** A spare buffer to hand to a loader thread (transferred), if one is spare. */
  takeRaw(): ArrayBuffer | undefined {
    return this.spare.pop();
  }

  /** A buffer that was never handed out: spare again at once. */
  giveBack(b: ArrayBuffer): void {
    this.keepSpare(b);
  }

  /**
   * A zeroed dirty page for the first `bytes` of a block: a whole block buffer, or for a
   * block that holds little so far (a small file), a small page that grows as it is
   * written. Past its end a page reads as zeros, like a stored block.
   */
  newPage(bytes: number): Uint8Array {
    if (bytes > this.blockSize / 2) return this.take(true);
    let n = Math.min(MIN_PAGE_BYTES, this.blockSize);
    while (n < bytes) n *= 2;
    return new Uint8Array(n);
  }

  /**
   * A loaded block as it is kept: a small one in a block buffer is copied out and the
   * buffer, never handed out, is spare again at once.
   */
  fitted(data: Uint8Array): Uint8Array {
    if (!this.isBlockBuffer(data) || data.length > this.blockSize / 2) return data;
    this.keepSpare(data.buffer as ArrayBuffer);
    return data.slice();
  }

  private keepSpare(b: ArrayBuffer): void {
    if (this.spare.length < this.maxSpare && this.heldBytes + this.blockSize <= this.room()) this.spare.push(b);
    else this.onDrop(b.byteLength);
  }

  /** Lets go of a buffer the cache no longer refers to. */
  retire(v: Uint8Array): void {
    const reusable = this.isBlockBuffer(v) && !this.escaped.has(v.buffer as ArrayBuffer);
    const kept = this.spare.length + this.retired.length < this.maxSpare;
    if (reusable && kept && this.heldBytes + this.blockSize <= this.room()) this.retired.push(v.buffer as ArrayBuffer);
    else this.onDrop(v.byteLength);
  }

  /** Drops buffers (to the garbage collector) until the pool holds at most `bytes`. */
  trimTo(bytes: number): void {
    while (this.heldBytes > bytes && this.spare.length > 0) this.onDrop(this.spare.pop()!.byteLength);
    while (this.heldBytes > bytes && this.retired.length > 0) this.onDrop(this.retired.pop()!.byteLength);
  }

  /** Start of a call that reads or writes: buffers let go before it may be reused now. */
  nextCall(): void {
    for (const b of this.retired) {
      // Let go, then handed out after a wait within the same call: its reply is still to come.
      if (this.spare.length < this.maxSpare && !this.escaped.has(b)) this.spare.push(b);
      else this.onDrop(b.byteLength);
    }
    this.retired = [];
  }

  /** Views handed out after a wait: their buffers are not reused until `sent`. */
  escape(views: Uint8Array[], except: Uint8Array): Uint8Array[] {
    this.held.add(views);
    for (const v of views) {
      if (v === except) continue;
      const b = v.buffer as ArrayBuffer;
      this.escaped.set(b, (this.escaped.get(b) ?? 0) + 1);
    }
    return views;
  }

  /** A reply with these views has been sent. */
  sent(views: Uint8Array[]): void {
    if (!this.held.delete(views)) return;
    for (const v of views) {
      const b = v.buffer as ArrayBuffer;
      const n = this.escaped.get(b);
      if (n === undefined) continue;
      if (n > 1) this.escaped.set(b, n - 1);
      else this.escaped.delete(b);
    }
  }
}
