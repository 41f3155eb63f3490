/** The revision log (table `revs`) and tags (table `tags`). */
import { Reader, readU64, u64Key, utf8, utf8d, Writer } from "../codec.ts";
import { readEntry, writeEntry } from "./pages.ts";
import type { RecordStore } from "../records/records.ts";
import { type DirEntry, RevfsError, type Revision, type RevNumber } from "../types.ts";

const META_NEXT_REV = utf8.encode("nextRev");

export function encodeRevision(r: Revision): Uint8Array {
  const w = new Writer().uint(r.parent).uint(r.timeMs).str(r.message);
  writeEntry(w, r.root);
  return w.finish();
}

export function decodeRevision(rev: RevNumber, bytes: Uint8Array): Revision {
  const r = new Reader(bytes, `revision ${rev}`);
  const parent = r.uint();
  const timeMs = r.uint();
  const message = r.str();
  const root = readEntry(r);
  r.end();
  if (root.type !== "dir") throw new RevfsError("CORRUPT", `revision ${rev}: root is not a directory`);
  return { rev, parent, timeMs, message, root };
}

const TAG_RE = /^[A-Za-z_][A-Za-z0-9._-]{0,99}$/;

export class RevisionLog {
  constructor(private readonly records: RecordStore) {}

  get(rev: RevNumber): Revision | undefined {
    const v = this.records.get("revs", u64Key(rev));
    return v === undefined ? undefined : decodeRevision(rev, v);
  }

  *all(): Iterable<Revision> {
    for (const [k, v] of this.records.range("revs")) yield decodeRevision(readU64(k) as RevNumber, v);
  }

  latest(): Revision | undefined {
    let last: Revision | undefined;
    for (const r of this.all()) last = r;
    return last;
  }

  /** Appends a revision; inside a write transaction. */
  append(parent: number, message: string, root: DirEntry): Revision {
    const v = this.records.get("meta", META_NEXT_REV);
    const rev = (v ? readU64(v) : 1) as RevNumber;
    const r: Revision = { rev, parent, timeMs: Date.now(), message, root };
    this.records.put("revs", u64Key(rev), encodeRevision(r));
    this.records.put("meta", META_NEXT_REV, u64Key(rev + 1));
    return r;
  }

  remove(rev: RevNumber): void {
    this.records.del("revs", u64Key(rev));
    for (const [name, r] of this.tags()) if (r === rev) this.records.del("tags", utf8.encode(name));
  }

  tags(): [string, RevNumber][] {
    const out: [string, RevNumber][] = [];
    for (const [k, v] of this.records.range("tags")) out.push([utf8d.decode(k), readU64(v) as RevNumber]);
    return out;
  }

  tagsOf(rev: RevNumber): string[] {
    return this.tags().filter(([, r]) => r === rev).map(([n]) => n);
  }

  setTag(name: string, rev: RevNumber): void {
    if (!TAG_RE.test(name) || name === "head") {
      throw new RevfsError(
        "INVALID",
        `invalid tag name ${
          JSON.stringify(name)
        }: use letters, digits, . _ -, starting with a letter or _ (not "head")`,
      );
    }
    this.records.put("tags", utf8.encode(name), u64Key(rev));
  }

  deleteTag(name: string): boolean {
    if (!this.records.has("tags", utf8.encode(name))) return false;
    this.records.del("tags", utf8.encode(name));
    return true;
  }

  /** A number, a tag or `head` (returned as "head"). */
  resolve(spec: string): RevNumber | "head" {
    if (spec === "head") return "head";
    if (/^[0-9]+$/.test(spec)) {
      const n = Number(spec) as RevNumber;
      if (!Number.isSafeInteger(n) || !this.get(n)) throw new RevfsError("UNKNOWN_REV", `unknown revision ${spec}`);
      return n;
    }
    const v = this.records.get("tags", utf8.encode(spec));
    if (v === undefined) {
      throw new RevfsError("UNKNOWN_REV", `unknown revision ${JSON.stringify(spec)} (not a number, a tag or head)`);
    }
    return readU64(v) as RevNumber;
  }
}
