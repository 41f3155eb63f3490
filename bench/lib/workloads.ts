/**
 * The synthetic histories every versioning benchmark replays, deterministic from a
 * seed, as plain edit operations so the same history can be applied to a directory
 * (the peers, the revfs mount) or to a store's head (bench/history.ts).
 *
 * - SourceHistory: a source-like tree (text from a Zipf-distributed vocabulary of
 *   identifiers, keywords and punctuation, so it compresses about as well as real code)
 *   edited commit by commit: 1-4 files per commit, with edits in place, insertions and
 *   appends, sometimes a new or a deleted file.
 * - BinaryHistory: one incompressible file whose every version rewrites 1% of it at
 *   random 4 KiB-aligned offsets.
 */
import { Rng } from "../../tests/helpers.ts";

export type EditOp =
  | { op: "mkdir"; path: string }
  | { op: "write"; path: string; data: Uint8Array }
  | { op: "delete"; path: string }
  /** Overwrite `data` at `offset` in place, keeping the file's size. */
  | { op: "patch"; path: string; offset: number; data: Uint8Array }
  /** Write `data` to a new file beside `path`, then rename it over `path` (an atomic save). */
  | { op: "replace"; path: string; data: Uint8Array };

const enc = new TextEncoder();

/** Text that looks like source code to a compressor: skewed word use, structure, indentation. */
export class SourceText {
  private readonly vocab: string[];
  constructor(private readonly rng: Rng) {
    const syll = ["ab", "ex", "or", "in", "st", "re", "co", "de", "pa", "ge", "ma", "lo", "ti", "un", "ar", "ve"];
    const keywords = ["const", "let", "return", "if", "else", "for", "function", "await", "export", "import", "new"];
    const words = new Set<string>(keywords);
    while (words.size < 1500) {
      let w = "";
      for (let n = 1 + rng.int(3); n > 0; n--) w += rng.pick(syll);
      if (rng.chance(0.4)) w += rng.pick(syll).toUpperCase()[0] + rng.pick(syll);
      words.add(w);
    }
    this.vocab = [...words];
  }

  private word(): string {
    const r = this.rng.next();
    return this.vocab[Math.floor(this.vocab.length * r * r * r)];
  }

  bytes(n: number): Uint8Array {
    let s = "";
    let depth = 0;
    while (s.length < n) {
      const shape = this.rng.int(6);
      const pad = "  ".repeat(depth);
      if (shape === 0) s += `${pad}${this.word()} ${this.word()}(${this.word()}, ${this.rng.int(1000)}) {\n`, depth++;
      else if (shape === 1 && depth > 0) depth--, s += `${"  ".repeat(depth)}}\n`;
      else if (shape === 2) s += `${pad}// ${this.word()} ${this.word()} ${this.word()} ${this.word()}\n`;
      else s += `${pad}const ${this.word()} = ${this.word()}.${this.word()}(${this.word()});\n`;
    }
    return enc.encode(s).subarray(0, n);
  }
}

export class SourceHistory {
  private readonly rng: Rng;
  private readonly text: SourceText;
  private readonly files = new Map<string, Uint8Array>();
  private readonly dirs: string[] = [];
  private serial = 0;

  constructor(seed: number, private readonly initialFiles = 300, private readonly dirCount = 20) {
    this.rng = new Rng(seed);
    this.text = new SourceText(this.rng);
  }

  /** Total bytes of the files as they stand: the logical size of the current state. */
  get treeBytes(): number {
    let n = 0;
    for (const d of this.files.values()) n += d.length;
    return n;
  }

  /** A file of the initial state that is never deleted (for "read the oldest state"). */
  firstPath = "";

  initial(): EditOp[] {
    const ops: EditOp[] = [];
    for (let d = 0; d < this.dirCount; d++) {
      this.dirs.push(`pkg${d}`);
      ops.push({ op: "mkdir", path: `pkg${d}` });
    }
    const first = this.add("pkg0");
    this.firstPath = first.path;
    ops.push(first);
    for (let i = 1; i < this.initialFiles; i++) ops.push(this.add());
    return ops;
  }

  private add(dir = this.rng.pick(this.dirs)): EditOp & { op: "write" } {
    const ext = this.rng.pick([".ts", ".ts", ".ts", ".md", ".json"]);
    const path = `${dir}/f${this.serial++}${ext}`;
    const data = this.text.bytes(2000 + this.rng.int(28_000));
    this.files.set(path, data);
    return { op: "write", path, data };
  }

  commit(): EditOp[] {
    const rng = this.rng;
    const ops: EditOp[] = [];
    const paths = [...this.files.keys()];
    for (let k = 1 + rng.int(4); k > 0; k--) {
      const path = rng.pick(paths);
      const old = this.files.get(path)!;
      const kind = rng.int(10);
      let next: Uint8Array;
      if (kind < 5) {
        next = old.slice();
        next.set(this.text.bytes(20 + rng.int(400)), rng.int(Math.max(1, old.length - 420)));
      } else if (kind < 8) {
        const at = rng.int(old.length);
        const ins = this.text.bytes(10 + rng.int(500));
        next = new Uint8Array(old.length + ins.length);
        next.set(old.subarray(0, at));
        next.set(ins, at);
        next.set(old.subarray(at), at + ins.length);
      } else {
        next = new Uint8Array(old.length + 300);
        next.set(old);
        next.set(this.text.bytes(300), old.length);
      }
      this.files.set(path, next);
      ops.push({ op: "write", path, data: next });
    }
    if (rng.chance(0.05)) ops.push(this.add());
    if (rng.chance(0.03) && this.files.size > 50) {
      const path = rng.pick([...this.files.keys()].filter((p) => p !== this.firstPath));
      this.files.delete(path);
      ops.push({ op: "delete", path });
    }
    return ops;
  }
}

/** How a program saves a new version of a file. */
export type SaveMode = "in place" | "new file + rename";

export class BinaryHistory {
  private readonly rng: Rng;
  /** The file as it is now; kept only to save it whole ("new file + rename"). */
  private current?: Uint8Array;

  constructor(seed: number, readonly bytes: number, readonly path = "model.bin", readonly mode: SaveMode = "in place") {
    this.rng = new Rng(seed);
  }

  initial(): EditOp[] {
    const data = this.rng.bytes(this.bytes);
    if (this.mode === "new file + rename") this.current = data.slice();
    return [{ op: "write", path: this.path, data }];
  }

  /**
   * 1% of the file rewritten at random 4 KiB-aligned offsets: patched in place, or the
   * whole new version written beside the file and renamed over it. The same seed gives
   * the same versions in both modes.
   */
  version(): EditOp[] {
    const ops: EditOp[] = [];
    for (let k = 0; k < this.bytes / 4096 / 100; k++) {
      ops.push({
        op: "patch",
        path: this.path,
        offset: this.rng.int(this.bytes / 4096) * 4096,
        data: this.rng.bytes(4096),
      });
    }
    if (!this.current) return ops;
    for (const e of ops) if (e.op === "patch") this.current.set(e.data, e.offset);
    return [{ op: "replace", path: this.path, data: this.current }];
  }
}

/** Applies edits to a directory tree with ordinary file calls (works through any mount). */
export function applyToDir(root: string, ops: readonly EditOp[]): void {
  for (const e of ops) {
    const p = `${root}/${e.path}`;
    if (e.op === "mkdir") Deno.mkdirSync(p, { recursive: true });
    else if (e.op === "write") Deno.writeFileSync(p, e.data);
    else if (e.op === "delete") Deno.removeSync(p);
    else if (e.op === "replace") {
      Deno.writeFileSync(`${p}.new`, e.data);
      Deno.renameSync(`${p}.new`, p);
    } else {
      const f = Deno.openSync(p, { write: true });
      try {
        f.seekSync(e.offset, Deno.SeekMode.Start);
        let done = 0;
        while (done < e.data.length) done += f.writeSync(e.data.subarray(done));
      } finally {
        f.close();
      }
    }
  }
}
