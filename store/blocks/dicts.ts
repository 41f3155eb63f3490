/**
 * zstd dictionaries trained on the store's own blocks (`optimize`), one for the whole
 * store and one per file kind with enough data. A block record of kind 2 names its
 * dictionary by id; a dictionary is committed before any record uses it and is never
 * changed, so a crash cannot leave a record without its dictionary.
 *
 * A file's kind is its lower-cased extension ("txt", "json"); STORE_KIND is the
 * store-wide dictionary, used for kinds without their own.
 */
import { Reader, readU64, u64Key, Writer } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import { RevfsError } from "../types.ts";
import { compress, decompress } from "./zstd.ts";

export const STORE_KIND = "*";

export interface Dictionary {
  id: number;
  kind: string;
  bytes: Uint8Array;
  /** Record bytes `optimize` saved with it when it re-encoded blocks. */
  savedAtOptimize: number;
}

/** The kind of a file by its name. */
export function kindOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || dot === name.length - 1) return "";
  const ext = name.slice(dot + 1).toLowerCase();
  return ext.length <= 16 && /^[a-z0-9_+-]+$/.test(ext) ? ext : "";
}

/** Dictionaries are written once and read once per process: compressed as far as zstd goes. */
const DICT_RECORD_LEVEL = 19;
/** A zstd frame's first bytes; a ZDICT dictionary begins with its own magic number (37 A4 30 EC). */
const FRAME_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** A dictionary's record; `frame`: its bytes compressed, when the caller has them. */
function encode(d: Dictionary, frame = compress(d.bytes, DICT_RECORD_LEVEL)): Uint8Array {
  return new Writer().str(d.kind).uint(d.savedAtOptimize).raw(frame).finish();
}

/** What follows a record's kind and count: the dictionary, raw (before format 9) or as one zstd frame. */
function frameOf(v: Uint8Array, id: number): Uint8Array {
  const r = new Reader(v, `dictionary ${id}`);
  r.str();
  r.uint();
  return r.rest();
}

/** Whether those bytes are a zstd frame (format 9), not a raw dictionary as formats before 9 wrote it. */
function isFrame(rest: Uint8Array): boolean {
  return FRAME_MAGIC.every((b, i) => rest[i] === b);
}

function decode(id: number, v: Uint8Array): Dictionary {
  const r = new Reader(v, `dictionary ${id}`);
  const kind = r.str();
  const savedAtOptimize = r.uint();
  const rest = r.rest();
  if (!isFrame(rest)) return { id, kind, savedAtOptimize, bytes: rest.slice() };
  try {
    return { id, kind, savedAtOptimize, bytes: decompress(rest) };
  } catch (e) {
    throw new RevfsError("CORRUPT", `dictionary ${id} is damaged: ${(e as Error).message}`);
  }
}

export class Dictionaries {
  private readonly byId = new Map<number, Dictionary>();
  /** Newest dictionary per kind; rebuilt when the table changes. */
  private current: Map<string, Dictionary> | undefined;

  constructor(private readonly records: RecordStore) {}

  get(id: number): Dictionary {
    let d = this.byId.get(id);
    if (!d) {
      const v = this.records.get("dicts", u64Key(id));
      if (v === undefined) throw new RevfsError("CORRUPT", `dictionary ${id} is missing from the store`);
      d = decode(id, v);
      this.byId.set(id, d);
    }
    return d;
  }

  all(): Dictionary[] {
    return [...this.records.range("dicts")].map(([k, v]) => decode(readU64(k), v));
  }

  /** The dictionary new blocks of `kind` are written with, if any. */
  forKind(kind: string): Dictionary | undefined {
    if (!this.current) {
      this.current = new Map();
      for (const d of this.all()) this.current.set(d.kind, d);
    }
    return this.current.get(kind) ?? this.current.get(STORE_KIND);
  }

  /** Stores a new dictionary (inside the caller's write transaction) and returns it. */
  add(kind: string, bytes: Uint8Array): Dictionary {
    let id = 1;
    for (const k of this.records.keys("dicts")) id = Math.max(id, readU64(k) + 1);
    const d: Dictionary = { id, kind, bytes, savedAtOptimize: 0 };
    this.records.put("dicts", u64Key(id), encode(d));
    this.current = undefined;
    return d;
  }

  /** Rewrites every dictionary stored raw by an older format compressed (inside the caller's write transaction); returns how many. */
  compressOld(): number {
    const raw = [...this.records.range("dicts")].map(([k, v]) => [readU64(k), v.slice()] as const)
      .filter(([id, v]) => !isFrame(frameOf(v, id)));
    for (const [id, v] of raw) this.records.put("dicts", u64Key(id), encode(decode(id, v)));
    return raw.length;
  }

  noteSaved(id: number, bytes: number): void {
    const d = this.get(id);
    d.savedAtOptimize += bytes;
    // The dictionary is unchanged: its stored frame is kept, not compressed again.
    const stored = frameOf(this.records.get("dicts", u64Key(id))!, id);
    const frame = isFrame(stored) ? stored : undefined;
    this.records.put("dicts", u64Key(id), encode(d, frame));
  }
}
