/**
 * Little binary writer/reader for records: unsigned LEB128 varints, length-prefixed
 * bytes and strings. Every record layout in FORMAT.md is written in these terms.
 */
import { copyBytes, smallBytes, utf8Bytes } from "../sys/small_bytes.ts";
import { RevfsError } from "./types.ts";

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 bytes as a string (a fatal decoder: invalid bytes throw). Short ASCII (most
 * names) is decoded here: a TextDecoder call is an op into Deno's runtime, which cost
 * a directory listing a third of its time.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length <= 64) {
    for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80) return utf8d.decode(bytes);
    // One string made at once: built a character at a time, the joins were 15% of the
    // JS time of a first walk of a 14,700-entry tree (3 against 4.5-12 ms for 15,000 names).
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return utf8d.decode(bytes);
}

/** `s`'s UTF-8 length when it is ASCII, else -1. */
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1;
  return s.length;
}

/** Bytes of `s` in UTF-8, without encoding it when it is ASCII. */
export function utf8Length(s: string): number {
  const n = asciiLength(s);
  return n >= 0 ? n : utf8.encode(s).length;
}

export class Writer {
  // From a slab, as is what finish() returns: a record is encoded per change.
  private buf = smallBytes(256);
  private pos = 0;

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** Unsigned varint for values up to 2^53. */
  uint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`not a uint: ${v}`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /**
   * Signed 64-bit value as a zigzag varint. Times in ns need more than 53 bits: the low
   * 28 go out as four 7-bit groups, the rest as a number varint, so only two BigInt
   * operations run instead of two per byte (an inode holds two or three such times).
   */
  bigint(v: bigint): this {
    let z = v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
    if (z <= 0x1f_ffff_ffff_ffffn) return this.uint(Number(z));
    if (z < 1n << 81n) {
      let lo = Number(z & 0xfff_ffffn);
      this.reserve(4);
      for (let i = 0; i < 4; i++, lo = Math.floor(lo / 0x80)) this.buf[this.pos++] = (lo % 0x80) | 0x80;
      return this.uint(Number(z >> 28n));
    }
    this.reserve(12);
    while (z >= 0x80n) {
      this.buf[this.pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.pos++] = Number(z);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  bytes(bytes: Uint8Array): this {
    return this.uint(bytes.length).raw(bytes);
  }

  str(s: string): this {
    return this.bytes(utf8Bytes(s));
  }

  finish(): Uint8Array {
    return copyBytes(this.buf, 0, this.pos);
  }
}

/** A 64-bit signed integer made from its little-endian 32-bit halves. */
const int64 = new BigInt64Array(1);
const int64Halves = new Int32Array(int64.buffer);

function unzigzag(z: bigint): bigint {
  return (z & 1n) ? -((z + 1n) >> 1n) : z >> 1n;
}

export class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array, private readonly what: string) {}

  private fail(why: string): never {
    throw new RevfsError("CORRUPT", `${this.what}: ${why} at byte ${this.pos}`);
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    if (this.pos >= this.buf.length) this.fail("unexpected end");
    return this.buf[this.pos++];
  }

  uint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
      if (mul > 2 ** 53) this.fail("varint too long");
    }
    return v;
  }

  bigint(): bigint {
    // The low 28 bits in a number; the rest, if any, as a number varint (see Writer.bigint).
    let lo = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.u8();
      lo += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return BigInt(lo % 2 ? -(lo + 1) / 2 : lo / 2);
    }
    const hi = this.uint();
    if (hi >= 2 ** 43) this.fail("varint too long");
    // z = hi * 2^28 + lo, zigzagged: z / 2, or -(z + 1) / 2 when odd, which is ~(z >> 1)
    // in two's complement. Times in ns fit 64 bits: made as two 32-bit halves and read as
    // one BigInt, one allocation where BigInt arithmetic made six (a tenth of a cold walk).
    const top = Math.floor(hi / 32), bottom = (hi % 32) * 2 ** 27 + Math.floor(lo / 2);
    if (top >= 2 ** 31) return unzigzag((BigInt(hi) << 28n) | BigInt(lo));
    const odd = lo % 2 === 1;
    int64Halves[0] = odd ? ~bottom : bottom;
    int64Halves[1] = odd ? ~top : top;
    return int64[0];
  }

  raw(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) this.fail("unexpected end");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes(): Uint8Array {
    return this.raw(this.uint());
  }

  /** Everything not read yet. */
  rest(): Uint8Array {
    return this.raw(this.buf.length - this.pos);
  }

  str(): string {
    try {
      return decodeUtf8(this.bytes());
    } catch {
      this.fail("invalid UTF-8");
    }
  }

  end(): void {
    if (!this.done) this.fail("trailing bytes");
  }
}

/**
 * Writes `n` (a safe integer, at least 0) as 8 big-endian bytes. Byte by byte: a
 * DataView on a fresh small array makes V8 move its bytes off the heap (a malloc), which
 * was an eighth of an import's time.
 */
function putU64(out: Uint8Array, at: number, n: number): void {
  const hi = Math.floor(n / 0x1_0000_0000), lo = n >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = (hi >>> 16) & 0xff;
  out[at + 2] = (hi >>> 8) & 0xff;
  out[at + 3] = hi & 0xff;
  out[at + 4] = lo >>> 24;
  out[at + 5] = (lo >>> 16) & 0xff;
  out[at + 6] = (lo >>> 8) & 0xff;
  out[at + 7] = lo & 0xff;
}

/** 8-byte big-endian key for a non-negative integer, so keys sort numerically. */
export function u64Key(n: number, suffix?: Uint8Array): Uint8Array {
  const out = smallBytes(8 + (suffix?.length ?? 0));
  putU64(out, 0, n);
  if (suffix) out.set(suffix, 8);
  return out;
}

export function u64KeyPair(a: number, b: number): Uint8Array {
  const out = smallBytes(16);
  putU64(out, 0, a);
  putU64(out, 8, b);
  return out;
}

export function readU64(key: Uint8Array, offset = 0): number {
  if (key.length < offset + 8) throw new RangeError(`readU64 past the end (${key.length} bytes, at ${offset})`);
  const hi = ((key[offset] << 24) | (key[offset + 1] << 16) | (key[offset + 2] << 8) | key[offset + 3]) >>> 0;
  const lo = ((key[offset + 4] << 24) | (key[offset + 5] << 16) | (key[offset + 6] << 8) | key[offset + 7]) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

export { utf8, utf8Bytes, utf8d };
