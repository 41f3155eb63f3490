/**
 * Which of a read's block records the two-thread decoder (sys/zstd_pool) takes: the
 * zstd frames, with or without a dictionary, of records that check themselves. Raw
 * records (answered in place), deltas (a chain, decoded one step at a time) and records
 * checked by their SHA-256 name are left to the one-by-one path.
 */
import { decodeBlockRecord, isDelta, isRaw, isUnchecked } from "./block_codec.ts";
import type { Dictionaries } from "./dicts.ts";
import { shortHex } from "./hash.ts";
import type { BlockHash } from "../types.ts";
import type { FrameJob } from "../../sys/zstd_pool/zstd_pool.ts";

/** Jobs for the records `stored` (looked up for `hashes`, in order); `at`: each job's place in `hashes`. */
export function frameJobs(
  stored: readonly (Uint8Array | undefined)[],
  hashes: readonly BlockHash[],
  dicts: Dictionaries,
  into: () => Uint8Array,
): { jobs: FrameJob[]; at: number[] } {
  const jobs: FrameJob[] = [];
  const at: number[] = [];
  stored.forEach((s, i) => {
    if (!s || isRaw(s) || isDelta(s) || isUnchecked(s)) return;
    const r = decodeBlockRecord(s, `block ${shortHex(hashes[i])}`);
    if (r.kind === "zstd") jobs.push({ frame: r.frame, into: into() });
    else if (r.kind === "zstd-dict") jobs.push({ frame: r.frame, dict: dicts.get(r.dictId).bytes, into: into() });
    else return;
    at.push(i);
  });
  return { jobs, at };
}
