/**
 * `optimize`: first re-delta history stored whole (store/maintenance/redelta.ts), then
 * train zstd dictionaries on the store's own blocks (ZDICT, through the system
 * libzstd), and re-encode block records at DENSE_LEVEL: whole ones with their kind's
 * dictionary, deltas on the same base, each kept only when it gets smaller. Snapshots
 * write at zstd's level 3 to stay fast; reading a frame costs the same at any level.
 *
 * One dictionary for the whole store, and one per file kind with enough data (a
 * kind's blocks compress better with a dictionary trained only on them). Each
 * dictionary is committed before any record uses it, and records are re-encoded in
 * small transactions keeping their hash, so an interrupted run leaves a valid store;
 * running again reuses the dictionaries already there and carries on.
 */
import { isDelta, isUnchecked } from "../blocks/block_codec.ts";
import type { BlockStore } from "../blocks/block_store.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import { type Dictionary, kindOf, STORE_KIND } from "../blocks/dicts.ts";
import type { DirTrees } from "../tree/dir_tree.ts";
import type { RecordStore } from "../records/records.ts";
import { hashKey } from "../blocks/hash.ts";
import type { RevisionLog } from "../tree/revisions.ts";
import type { BlockHash, PageHash } from "../types.ts";
import { compressWithDict, zstd } from "../blocks/zstd.ts";
import { redeltaHistory, type RedeltaParts, type RedeltaResult } from "./redelta.ts";

/** A kind gets its own dictionary with at least this many blocks and stored bytes. */
const KIND_MIN_BLOCKS = 32;
const KIND_MIN_BYTES = 256 << 10;
const STORE_MIN_BYTES = 128 << 10;
/** Dictionary size: about 1/64 of the samples (ZDICT's advice is ~1/100), within these. */
const DICT_MIN = 8 << 10;
const DICT_MAX = 64 << 10;
/** Training input: samples of at most SAMPLE_BYTES, at most this much in all. */
const SAMPLE_BYTES = 8 << 10;
const MAX_SAMPLE_TOTAL = 16 << 20;
const BATCH = 256;
/** zstd level of what `optimize` re-encodes: on source code 10% smaller than level 3, and as small as 19 within 0.5%. */
export const DENSE_LEVEL = 15;

export interface OptimizeResult {
  /** History stored whole that became deltas on newer versions. */
  redelta: RedeltaResult;
  /** False when no trainer is available (no system libzstd): no dictionary was trained. */
  trainer: boolean;
  trained: { id: number; kind: string; bytes: number }[];
  reused: number;
  blocks: number;
  /** Block records (whole and deltas) re-encoded smaller, and the bytes that saved. */
  recompressed: number;
  bytesSaved: number;
  /** Block records written before format 7 re-encoded to carry their own checksum. */
  converted: number;
  /** Page records re-encoded at DENSE_LEVEL: the bytes that saved. */
  pageBytesSaved: number;
  /** The zstd level records were re-encoded at. */
  level: number;
}

interface Live {
  hash: BlockHash;
  kind: string;
  bytes: number;
}

/** Whole block records of live revisions, each with the kind of a file that holds it. */
function liveBlocks(records: RecordStore, log: RevisionLog, dirs: DirTrees, maps: BlockMaps): Live[] {
  const blocks = new Map<string, Live>();
  const seenDirs = new Set<string>();
  const seenMaps = new Set<string>();
  const dir = (root: PageHash | null) => {
    if (root === null || seenDirs.has(hashKey(root))) return;
    seenDirs.add(hashKey(root));
    for (const [name, e] of dirs.list(root)) {
      if (e.type === "dir") dir(e.content);
      else if (e.type === "file" && e.content !== null && !seenMaps.has(hashKey(e.content))) {
        seenMaps.add(hashKey(e.content));
        const kind = kindOf(name);
        for (const [, h] of maps.present(e.content)) {
          const k = hashKey(h);
          if (blocks.has(k)) continue;
          const v = records.get("blocks", h);
          // Deltas are left alone: their frames already use their base as dictionary.
          if (v !== undefined && !isDelta(v)) blocks.set(k, { hash: h, kind, bytes: v.length });
        }
      }
    }
  };
  for (const rev of log.all()) dir(rev.root.content);
  return [...blocks.values()];
}

/** Evenly spread samples of a kind's blocks, cut to SAMPLE_BYTES. */
function samplesOf(blocks: Live[], store: BlockStore): Uint8Array[] {
  const out: Uint8Array[] = [];
  let total = 0;
  const step = Math.max(1, Math.floor(blocks.length / 2000));
  for (let i = 0; i < blocks.length && total < MAX_SAMPLE_TOTAL; i += step) {
    const data = store.get(blocks[i].hash);
    for (let at = 0; at < data.length && total < MAX_SAMPLE_TOTAL; at += SAMPLE_BYTES) {
      const s = data.subarray(at, at + SAMPLE_BYTES);
      out.push(s);
      total += s.length;
    }
  }
  return out;
}

/** Record bytes a dictionary would save on `blocks`, estimated from up to 200 of them. */
function trialGain(list: Live[], store: BlockStore, dict: Uint8Array): number {
  const step = Math.max(1, Math.floor(list.length / 200));
  let saved = 0;
  let tried = 0;
  for (let i = 0; i < list.length; i += step) {
    const data = store.get(list[i].hash);
    saved += Math.max(0, list[i].bytes - (4 + compressWithDict(data, dict).length));
    tried++;
  }
  return Math.round(saved * list.length / Math.max(1, tried));
}

export function optimize(
  parts: RedeltaParts,
  progress: (done: number, total: number) => void = () => {},
  note: (line: string) => void = () => {},
): OptimizeResult {
  const { records, log, dirs, maps } = parts;
  const redelta = redeltaHistory(parts, progress);
  const result: OptimizeResult = {
    redelta,
    trainer: false,
    trained: [],
    reused: 0,
    blocks: 0,
    recompressed: 0,
    bytesSaved: 0,
    converted: 0,
    pageBytesSaved: 0,
    level: DENSE_LEVEL,
  };
  const live = liveBlocks(records, log, dirs, maps);
  result.blocks = live.length;
  const dictFor = trainDictionaries(parts, live, result, note);
  reencode(parts, live, dictFor, result, progress);
  return result;
}

/** One dictionary per kind with enough data, and one for the rest of the store; none without a trainer. */
function trainDictionaries(
  parts: RedeltaParts,
  live: Live[],
  result: OptimizeResult,
  note: (line: string) => void,
): Map<string, Dictionary> {
  const { records, blocks } = parts;
  const dictFor = new Map<string, Dictionary>();
  const z = zstd();
  if (!z.train) return dictFor;
  result.trainer = true;
  const byKind = new Map<string, Live[]>();
  for (const b of live) {
    if (!byKind.has(b.kind)) byKind.set(b.kind, []);
    byKind.get(b.kind)!.push(b);
  }
  // Dictionaries a store before format 9 holds raw take a quarter of that compressed.
  records.write(() => blocks.dicts.compressOld());
  const existing = new Map(blocks.dicts.all().map((d) => [d.kind, d]));
  const train = (kind: string, from: Live[]): void => {
    const have = existing.get(kind);
    if (have) {
      dictFor.set(kind, have);
      result.reused++;
      return;
    }
    let bytes: Uint8Array;
    try {
      const samples = samplesOf(from, blocks);
      const total = samples.reduce((n, x) => n + x.length, 0);
      bytes = z.train!(samples, Math.min(DICT_MAX, Math.max(DICT_MIN, Math.floor(total / 64))));
    } catch (e) {
      // ZDICT gives up on data with nothing to learn (random bytes): no dictionary then.
      note(`no dictionary for ${kind === STORE_KIND ? "the store" : `.${kind || "(none)"}`}: ${(e as Error).message}`);
      return;
    }
    const gain = trialGain(from, blocks, bytes);
    const name = kind === STORE_KIND ? "the store" : `.${kind || "(none)"}`;
    if (gain < 2 * bytes.length) {
      note(`no dictionary for ${name}: it would save about ${gain} bytes, for ${bytes.length} of its own`);
      return;
    }
    const d = records.write(() => blocks.dicts.add(kind, bytes));
    dictFor.set(kind, d);
    result.trained.push({ id: d.id, kind, bytes: bytes.length });
  };
  const bytesOf = (list: Live[]) => list.reduce((n, b) => n + b.bytes, 0);
  for (const [kind, list] of byKind) {
    if (list.length >= KIND_MIN_BLOCKS && bytesOf(list) >= KIND_MIN_BYTES) train(kind, list);
  }
  // The store-wide dictionary is for kinds too small for their own.
  const rest = live.filter((b) => !dictFor.has(b.kind));
  if (bytesOf(rest) >= STORE_MIN_BYTES) train(STORE_KIND, rest);
  return dictFor;
}

/**
 * Re-encodes whole records (with their kind's dictionary, if any) and then delta
 * records at DENSE_LEVEL, in small transactions, keeping each only when smaller; a
 * record already on its dictionary was done by an earlier run. Raw records stay raw:
 * they did not compress at level 3. Every record written before format 7, live or not
 * (the head's, a dropped revision's before gc), is re-encoded so that it checks itself.
 */
function reencode(
  parts: RedeltaParts,
  live: Live[],
  dictFor: Map<string, Dictionary>,
  result: OptimizeResult,
  progress: (done: number, total: number) => void,
): void {
  const { records, blocks } = parts;
  const deltas: BlockHash[] = [];
  const older: BlockHash[] = [];
  const liveKeys = new Set(live.map((b) => hashKey(b.hash)));
  for (const [k, v] of records.range("blocks")) {
    if (isDelta(v)) deltas.push(k.slice() as BlockHash);
    else if (isUnchecked(v) && !liveKeys.has(hashKey(k))) older.push(k.slice() as BlockHash);
  }
  const pages = [...records.keys("pages")].map((k) => k.slice() as PageHash);
  const total = live.length + older.length + deltas.length + pages.length;
  let done = 0;
  const saved = new Map<number, number>();
  const count = (h: BlockHash, wasUnchecked: boolean, n: number, dictId?: number) => {
    if (wasUnchecked && !isUnchecked(records.get("blocks", h)!)) result.converted++;
    result.bytesSaved += n;
    if (n <= 0) return;
    result.recompressed++;
    if (dictId !== undefined) saved.set(dictId, (saved.get(dictId) ?? 0) + n);
  };
  const inBatches = <T>(items: T[], each: (item: T) => void) => {
    for (let i = 0; i < items.length; i += BATCH) {
      records.write(() => {
        saved.clear();
        for (const item of items.slice(i, i + BATCH)) each(item);
        for (const [id, n] of saved) blocks.dicts.noteSaved(id, n);
      });
      progress(done += Math.min(BATCH, items.length - i), total);
    }
  };
  const unchecked = (h: BlockHash) => isUnchecked(records.get("blocks", h)!);
  inBatches(live, (b) => {
    const d = dictFor.get(b.kind) ?? dictFor.get(STORE_KIND);
    const dictId = blocks.dictOf(b.hash);
    const was = unchecked(b.hash);
    if (!was && (d ? dictId === d.id : dictId !== undefined)) return;
    // Converting a record on a dictionary that is not its kind's: it keeps the one it has.
    const use = d ?? (dictId === undefined ? undefined : blocks.dicts.get(dictId));
    count(b.hash, was, blocks.recompress(b.hash, use, DENSE_LEVEL), use?.id);
  });
  // Not live: converted, keeping the dictionary they have.
  inBatches(older, (h) => {
    const id = blocks.dictOf(h);
    count(h, true, blocks.recompress(h, id === undefined ? undefined : blocks.dicts.get(id), DENSE_LEVEL));
  });
  inBatches(deltas, (h) => count(h, unchecked(h), blocks.recompressDelta(h, DENSE_LEVEL)));
  inBatches(pages, (h) => result.pageBytesSaved += parts.pages.recompress(h, DENSE_LEVEL));
}
