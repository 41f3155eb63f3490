/** `stats`: what the store holds and what it costs on disk. */
import { Reader } from "./codec.ts";
import { HASH_BYTES } from "./hash.ts";
import { hashKey } from "./reachability.ts";
import type { Store } from "./store.ts";
import { type Ino, ROOT_INO } from "./types.ts";

export interface StoreStats {
  blockSize: number;
  revisions: number;
  tags: number;
  /** Sum of file sizes over all live revisions. */
  logicalBytes: number;
  /** Sum of file sizes in the head. */
  headBytes: number;
  uniqueBlocks: number;
  /** Block records stored as a delta on another block, and their bytes. */
  deltaRecords: number;
  deltaBytes: number;
  /** Longest delta chain: delta records a read of one block decodes. */
  maxChainDepth: number;
  /** Trained zstd dictionaries: record bytes saved is what `optimize` measured when it re-encoded. */
  dictionaries: { id: number; kind: string; size: number; blocks: number; bytesSaved: number }[];
  pages: number;
  /** Bytes of all stored block, page and dictionary records, keys included. */
  storedBytes: number;
  /** Bytes the store directory takes on disk. */
  fileBytes: number;
}

export function computeStats(store: Store): StoreStats {
  const r = store.records;
  let logicalBytes = 0;
  let revisions = 0;
  for (const rev of store.log.all()) {
    revisions++;
    logicalBytes += rev.root.size;
  }
  let headBytes = 0;
  for (const ref of headFileSizes(store)) headBytes += ref;
  const deltas = deltaStats(store);
  const users = new Map<number, number>();
  for (const [, v] of r.range("blocks")) {
    if (v[0] === 2) {
      const id = new Reader(v.subarray(1), "block record").uint();
      users.set(id, (users.get(id) ?? 0) + 1);
    }
  }
  const dictionaries = store.blocks.dicts.all().map((d) => ({
    id: d.id,
    kind: d.kind,
    size: d.bytes.length,
    blocks: users.get(d.id) ?? 0,
    bytesSaved: d.savedAtOptimize,
  }));
  let storedBytes = 0;
  for (const table of ["blocks", "pages", "dicts"] as const) {
    for (const [k, v] of r.range(table)) storedBytes += k.length + v.length;
  }
  return {
    blockSize: store.blockSize,
    revisions,
    tags: store.log.tags().length,
    logicalBytes,
    headBytes,
    uniqueBlocks: r.count("blocks"),
    ...deltas,
    dictionaries,
    pages: r.count("pages"),
    storedBytes,
    fileBytes: diskUsage(store.dir),
  };
}

function* headFileSizes(store: Store): Iterable<number> {
  const stack: Ino[] = [ROOT_INO];
  while (stack.length) {
    const ino = stack.pop()!;
    for (const [, child] of store.head.readdir(ino)) {
      const i = store.head.mustInode(child);
      if (i.type === "file") yield i.size;
      else if (i.type === "dir") stack.push(child);
    }
  }
}

function deltaStats(store: Store): { deltaRecords: number; deltaBytes: number; maxChainDepth: number } {
  const baseOf = new Map<string, string>();
  let deltaBytes = 0;
  for (const [k, v] of store.records.range("blocks")) {
    if (v[0] !== 3) continue;
    baseOf.set(hashKey(k), hashKey(v.subarray(1, 1 + HASH_BYTES)));
    deltaBytes += k.length + v.length;
  }
  const depth = new Map<string, number>();
  const depthOf = (k: string): number => {
    const known = depth.get(k);
    if (known !== undefined) return known;
    const base = baseOf.get(k);
    // Mark first, so a (corrupt) cycle ends instead of recursing forever.
    depth.set(k, 0);
    const d = base === undefined ? 0 : 1 + depthOf(base);
    depth.set(k, d);
    return d;
  };
  let maxChainDepth = 0;
  for (const k of baseOf.keys()) maxChainDepth = Math.max(maxChainDepth, depthOf(k));
  return { deltaRecords: baseOf.size, deltaBytes, maxChainDepth };
}

function diskUsage(dir: string): number {
  let total = 0;
  for (const e of Deno.readDirSync(dir)) {
    const st = Deno.statSync(`${dir}/${e.name}`);
    total += st.blocks !== null ? st.blocks * 512 : st.size;
  }
  return total;
}
