/**
 * zstd frames decoded on two threads: the caller's and a helper thread in C
 * (sys/zstd_pool/zstd_pool.c, built by sys/zstd_pool/build.sh). `decode` returns when
 * every frame is decoded, so the frames may be views of LMDB's memory and the targets
 * any buffers: nothing outlives the call. Frames may instead be queued for the helper
 * (`ahead`) and waited for later (`wait`), decoded meanwhile: their frames and targets
 * must then stay as they are until waited for. Absent (undefined) when the library is
 * not built, libzstd is missing, or REVFS_ZSTD=wasm; callers then decode one by one.
 */
import { optionalLibrary } from "../native.ts";

const LIBRARY_PATH = new URL("../../.build/libzstd_pool.so", import.meta.url).pathname;

const symbols = {
  zp_start: { parameters: [], result: "i32" },
  zp_decode: { parameters: ["buffer", "u32"], result: "void" },
  zp_push: { parameters: ["buffer", "u32"], result: "void" },
  zp_wait: { parameters: ["buffer", "u32"], result: "void" },
} as const;

/** struct zp_job: eight 64-bit words. */
const JOB_WORDS = 8;
/** zp_job.result for a frame that did not decode to exactly its content size. */
const FAILED = 0xffff_ffff_ffff_ffffn;

export interface FrameJob {
  /** One zstd frame with its content size in the header. */
  frame: Uint8Array;
  /** The dictionary (trained, or raw content) it was compressed with. */
  dict?: Uint8Array;
  into: Uint8Array;
}

/** Frames queued for the helper thread (ZstdPool.ahead), to be waited for. */
export interface AheadBatch {
  readonly jobs: readonly FrameJob[];
  /** The jobs as the C side reads them: kept alive with the jobs until waited for. */
  readonly words: BigUint64Array;
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
   * Frames queued ahead before these are decoded first.
   */
  decode(jobs: readonly FrameJob[]): (number | undefined)[] {
    if (this.jobs.length < jobs.length * JOB_WORDS) {
      this.jobs = new BigUint64Array(Math.max(jobs.length, 32) * JOB_WORDS);
    }
    fill(this.jobs, jobs);
    this.lib.zp_decode(this.jobs, jobs.length);
    return results(this.jobs, jobs.length);
  }

  /**
   * Queues `jobs` for the helper thread and returns at once. Until `wait`, the frames
   * and targets must not change nor go (a view of LMDB's map only while a read
   * transaction holds it).
   */
  ahead(jobs: readonly FrameJob[]): AheadBatch {
    const words = new BigUint64Array(jobs.length * JOB_WORDS);
    fill(words, jobs);
    this.lib.zp_push(words, jobs.length);
    return { jobs, words };
  }

  /** `decode`'s results for a batch `ahead` queued, once all of it is decoded (on this thread too, if need be). */
  wait(batch: AheadBatch): (number | undefined)[] {
    this.lib.zp_wait(batch.words, batch.jobs.length);
    return results(batch.words, batch.jobs.length);
  }
}

function address(bytes: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/** Writes `jobs` as zp_job structs. */
function fill(words: BigUint64Array, jobs: readonly FrameJob[]): void {
  jobs.forEach((j, i) => {
    const w = i * JOB_WORDS;
    words[w] = address(j.frame);
    words[w + 1] = BigInt(j.frame.length);
    words[w + 2] = j.dict && j.dict.length > 0 ? address(j.dict) : 0n;
    words[w + 3] = BigInt(j.dict?.length ?? 0);
    words[w + 4] = address(j.into);
    words[w + 5] = BigInt(j.into.length);
    words[w + 6] = FAILED;
    words[w + 7] = 0n;
  });
}

function results(words: BigUint64Array, n: number): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    const r = words[i * JOB_WORDS + 6];
    out.push(r === FAILED ? undefined : Number(r));
  }
  return out;
}
