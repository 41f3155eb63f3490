/** Test factories: temporary stores, a seeded random source, the CLI as a subprocess. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { open as openLmdbJs } from "lmdb";
import { fileChunks, type FileEntry, type Ino, type RevNumber } from "../mod.ts";
import { Store } from "../store/store.ts";
import { readRange } from "../store/tree/read_range.ts";

export interface TestStore {
  store: Store;
  /** A temporary directory for the test, removed after it; the store is `${dir}/store`. */
  dir: string;
  cleanup(): Promise<void>;
}

export async function newTestStore(opts: { blockSize?: number } = {}): Promise<TestStore> {
  const dir = await tempDir();
  const store = await Store.init(`${dir}/store`, opts);
  return {
    store,
    dir,
    async cleanup() {
      await store.close().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * A test of the store: runs `fn` on a new store and, when it passes, checks every
 * invariant of the store it leaves (verify, reopened if the test closed it), so no
 * store test can forget to. The store and its directory go away either way.
 */
export function storeTest(
  name: string,
  fn: (ts: TestStore, t: Deno.TestContext) => Promise<void> | void,
  opts: { blockSize?: number } = {},
): void {
  Deno.test(name, async (t) => {
    const ts = await newTestStore(opts);
    try {
      await fn(ts, t);
      if (ts.store.closed) {
        const again = await Store.open(`${ts.dir}/store`);
        try {
          checkStoreInvariants(again);
        } finally {
          await again.close();
        }
      } else checkStoreInvariants(ts.store);
    } finally {
      await ts.cleanup();
    }
  });
}

/** A new temporary directory; the caller removes it. */
export function tempDir(prefix = "revfs-test-"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}

/** Mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    // The state is a 32-bit counter: kept as an unbounded float (as it once was), it lost
    // its low bits past 2^53, and 64 MiB of "random" bytes after the first 300 MB held
    // each 64 KiB block twice.
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number, kind: "text" | "binary" = "binary"): Uint8Array {
    const out = new Uint8Array(n);
    if (kind === "text") {
      const words = ["alpha", "beta", "gamma", "delta", "revfs", "block", "page", "tree", "\n", " ", "the", "of"];
      let i = 0;
      while (i < n) {
        const w = new TextEncoder().encode(this.pick(words) + " ");
        out.set(w.subarray(0, Math.min(w.length, n - i)), i);
        i += w.length;
      }
    } else {
      for (let i = 0; i < n; i += 4) {
        const v = (this.next() * 4294967296) >>> 0;
        out[i] = v & 255;
        if (i + 1 < n) out[i + 1] = (v >>> 8) & 255;
        if (i + 2 < n) out[i + 2] = (v >>> 16) & 255;
        if (i + 3 < n) out[i + 3] = v >>> 24;
      }
    }
    return out;
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;

export function runCli(...args: string[]): Promise<CliResult> {
  return runCliWith({}, ...args);
}

/** The CLI with extra environment variables (fault injection); `signal` is set when it was killed. */
export async function runCliWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<CliResult & { signal: Deno.Signal | null }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env,
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
}

/** Every test store must pass verify at the end of its test. */
export function checkStoreInvariants(store: Store): void {
  const report = store.verify();
  if (report.problems.length > 0) throw new Error(`store does not verify:\n${report.problems.join("\n")}`);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function concatBytes(chunks: Iterable<Uint8Array>): Uint8Array {
  const parts = [...chunks];
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of parts) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Byte arrays equal, or one short message naming the first difference (node:assert's
 * deepEqual renders a diff of every byte, which for blocks takes minutes).
 */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  if (i === n && actual.length === expected.length) return;
  throw new Error(
    `${what}: ${actual.length} bytes, expected ${expected.length}; first difference at offset ${i}` +
      (i < n ? ` (${actual[i]}, expected ${expected[i]})` : ""),
  );
}

/** Bytes of a head file as stored (no page cache): the test's view of what the head holds. */
export function readHead(store: Store, ino: Ino, offset: number, length: number): Uint8Array {
  const f = store.parts.head.inodes.file(ino);
  const inline = store.head.inlineBlock(f);
  return readRange(f.size, offset, length, store.blockSize, (idx) => {
    if (idx === 0 && inline) return inline;
    const h = store.parts.head.files.blockHash(f, idx);
    return h === null ? null : store.readBlock(h);
  });
}

/** Bytes of a revision's file by its entry, read from the store. */
export function readEntry(store: Store, e: FileEntry, offset: number, length: number): Uint8Array {
  return readRange(e.size, offset, length, store.blockSize, (idx) => {
    if (e.inline) return idx === 0 ? e.inline : null;
    const h = store.entryBlock(e, idx);
    return h === null ? null : store.readBlock(h);
  });
}

/** Every file of revision `rev`, by path, as the SHA-256 of its bytes read back through the store. */
export function filesOf(store: Store, rev: RevNumber): Map<string, string> {
  const view = store.view(rev);
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const [name, info] of view.list(dir)) {
      const path = dir ? `${dir}/${name}` : name;
      if (info.type === "dir") walk(path);
      else if (info.type === "file") out.set(path, sha256Hex(concatBytes(fileChunks(view, path, store.blockSize))));
    }
  };
  walk("");
  return out;
}

/** Every file of every revision, keyed "REV:path". */
export function everyRevision(store: Store): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of store.revisions()) for (const [p, sha] of filesOf(store, r.rev)) out.set(`${r.rev}:${p}`, sha);
  return out;
}

/**
 * An LMDB environment in `dir` and its `tables`, opened through lmdb-js with the options
 * and in the order revfs used before its own binding (sys/lmdb): files as older
 * versions wrote them. Close with `await env.close()`.
 */
export function openAsLmdbJs(dir: string, tables: string[]) {
  const env = openLmdbJs<Uint8Array, Uint8Array>({
    path: dir,
    maxDbs: 16,
    keyEncoding: "binary",
    encoding: "binary",
    noSync: false,
    overlappingSync: false,
    cache: false,
  });
  const dbs = tables.map((name) =>
    env.openDB<Uint8Array, Uint8Array>({ name, keyEncoding: "binary", encoding: "binary" })
  );
  return { env, dbs };
}

/** Pages of `path` in the page cache, by mincore(2) over a mapping of our own. */
export function residentPages(path: string): boolean[] {
  const c = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
  });
  try {
    const size = Deno.statSync(path).size;
    const fd = c.symbols.open(new TextEncoder().encode(path + "\0"), 0);
    assert.ok(fd >= 0, `open ${path}`);
    const PROT_READ = 1, MAP_SHARED = 1;
    const map = c.symbols.mmap(null, BigInt(size), PROT_READ, MAP_SHARED, fd, 0n);
    c.symbols.close(fd);
    const vec = new Uint8Array(Math.ceil(size / 4096));
    assert.equal(c.symbols.mincore(map, BigInt(size), vec), 0, "mincore");
    c.symbols.munmap(map, BigInt(size));
    return Array.from(vec, (b) => (b & 1) === 1);
  } finally {
    c.close();
  }
}

/**
 * `path`'s resident pages once `done` says so, or after 10 s: what was asked of the disk
 * ahead comes in in the background.
 */
export async function residentWhen(path: string, done: (resident: boolean[]) => boolean): Promise<boolean[]> {
  let resident = residentPages(path);
  for (const until = Date.now() + 10_000; !done(resident) && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 20));
    resident = residentPages(path);
  }
  return resident;
}

/** Drops `path`'s clean pages from the page cache (posix_fadvise DONTNEED; no root needed). */
export function dropPages(path: string): void {
  const c = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32" },
  });
  try {
    const fd = c.symbols.open(new TextEncoder().encode(path + "\0"), 0);
    const POSIX_FADV_DONTNEED = 4;
    assert.equal(c.symbols.posix_fadvise(fd, 0n, 0n, POSIX_FADV_DONTNEED), 0);
    c.symbols.close(fd);
  } finally {
    c.close();
  }
}
