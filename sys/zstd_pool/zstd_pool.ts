/**
 * zstd frames decoded on two threads: the caller's and a helper thread in C
 * (sys/zstd_pool/zstd_pool.c, built by sys/zstd_pool/build.sh). The call returns when
 * every frame is decoded, so the frames may be views of LMDB's memory and the targets
 * any buffers: nothing outlives the call. Absent (undefined) when the library is not
 * built, libzstd is missing, or REVFS_ZSTD=wasm; callers then decode one by one.
 */
import { optionalLibrary } from "../native.ts";

const LIBRARY_PATH = new URL("../../.build/libzstd_pool.so", import.meta.url).pathname;

const symbols = {
  zp_start: { parameters: [], result: "i32" },
  zp_decode: { parameters: ["buffer", "u32"], result: "void" },
} as const;

/** struct zp_job: eight 64-bit words. */
const JOB_WORDS = 8;
/** zp_job.result for a frame that did not decode to exactly its content size. */
const FAILED = 0xffff_ffff_ffff_ffffn;
/** zp_decode takes at most this many frames at once. */
const MAX_BATCH = 0xffff;

export interface FrameJob {
  /** One zstd frame with its content size in the header. */
  frame: Uint8Array;
  /** The dictionary (trained, or raw content) it was compressed with. */
  dict?: Uint8Array;
  into: Uint8Array;
}

function address(bytes: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

export class ZstdPool {
  private jobs = new BigUint64Array(0);

  private constructor(private readonly lib: Deno.DynamicLibrary<typeof symbols>["symbols"]) {}

  static open(): ZstdPool | undefined {
    const lib = optionalLibrary(LIBRARY_PATH, symbols, "REVFS_ZSTD");
    return lib && lib.zp_start() === 0 ? new ZstdPool(lib) : undefined;
  }

  /**
   * Decodes each job's frame into its `into` (checked against the frame's content
   * checksum when it has one). The decoded length of each, or undefined where the frame
   * did not decode or did not fit: the caller decodes that one itself to say why.
   */
  decode(jobs: readonly FrameJob[]): (number | undefined)[] {
    const out: (number | undefined)[] = [];
    for (let from = 0; from < jobs.length; from += MAX_BATCH) {
      const batch = jobs.slice(from, from + MAX_BATCH);
      const words = this.words(batch.length);
      batch.forEach((j, i) => {
        const w = i * JOB_WORDS;
        words[w] = address(j.frame);
        words[w + 1] = BigInt(j.frame.length);
        words[w + 2] = j.dict && j.dict.length > 0 ? address(j.dict) : 0n;
        words[w + 3] = BigInt(j.dict?.length ?? 0);
        words[w + 4] = address(j.into);
        words[w + 5] = BigInt(j.into.length);
        words[w + 6] = FAILED;
      });
      this.lib.zp_decode(words, batch.length);
      for (let i = 0; i < batch.length; i++) {
        const r = words[i * JOB_WORDS + 6];
        out.push(r === FAILED ? undefined : Number(r));
      }
    }
    return out;
  }

  private words(n: number): BigUint64Array {
    if (this.jobs.length < n * JOB_WORDS) this.jobs = new BigUint64Array(Math.max(n, 32) * JOB_WORDS);
    return this.jobs;
  }
}
