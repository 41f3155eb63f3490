/**
 * `verify`: reads every record every live revision and the head reach, checks each
 * against its hash, checks tree structure, and names the revision and path of every
 * problem. Shared records are read once; a bad one is reported for every path using it.
 */
import { FANOUT } from "../tree/block_map.ts";
import type { BlockStore } from "../blocks/block_store.ts";
import { MAX_DELTA_DEPTH, MAX_PAGE_DELTA_DEPTH, maxChainBytes } from "../blocks/chains.ts";
import { LEAF_MAX } from "../tree/dir_tree.ts";
import { hashKey, shortHex } from "../blocks/hash.ts";
import type { Head } from "../head/head.ts";
import { type Page, pageChainUnit, type PageStore } from "../tree/pages.ts";
import type { RevisionLog } from "../tree/revisions.ts";
import { type BlockHash, type Entry, type Ino, type MapRoot, type PageHash, RevfsError } from "../types.ts";
import { oneBlockOf } from "../tree/map_root.ts";
import { readU64 } from "../codec.ts";
import type { RecordStore } from "../records/records.ts";
import { decodeInode } from "../head/inode.ts";

/** A chain longer than the `chains` entry of its whole record says: a later delta could break the bounds. */
const UNDERSTATED = "its delta chain is longer than the chains table says";

export interface VerifyReport {
  revisions: number;
  pages: number;
  blocks: number;
  problems: string[];
}

export class Verifier {
  private readonly pageResult = new Map<string, Page | string>();
  private readonly blockResult = new Map<string, string | number>();
  /** Names of each hard link id met in the revision being verified; undefined while verifying the head. */
  private links: Map<number, [string, Entry][]> | undefined;
  readonly report: VerifyReport = { revisions: 0, pages: 0, blocks: 0, problems: [] };

  constructor(
    private readonly records: RecordStore,
    private readonly pages: PageStore,
    private readonly blocks: BlockStore,
    private readonly blockSize: number,
    private readonly progress: (done: number, total: number) => void = () => {},
  ) {}

  run(log: RevisionLog, head: Head): VerifyReport {
    const revs = [...log.all()];
    const total = revs.length + 1;
    for (const rev of revs) {
      this.report.revisions++;
      const links = this.links = new Map();
      this.dir(rev.root.content, `revision ${rev.rev}`, "", 0);
      this.checkLinks(`revision ${rev.rev}`, links);
      this.progress(this.report.revisions, total);
    }
    // The head's directories may hold entries of several revisions (restore): not one tree.
    this.links = undefined;
    this.head(head);
    this.progress(total, total);
    return this.report;
  }

  private problem(where: string, path: string, what: string): void {
    this.report.problems.push(`${where}: ${path || "/"}: ${what}`);
  }

  private page(hash: PageHash, where: string, path: string): Page | null {
    const k = hashKey(hash);
    let r = this.pageResult.get(k);
    if (r === undefined) {
      this.report.pages++;
      try {
        r = this.pages.load(hash);
        const chain = this.pages.chains.below(hash);
        const bytes = maxChainBytes(pageChainUnit(chain?.wholeBytes ?? 0));
        if (!chain || chain.hops > MAX_PAGE_DELTA_DEPTH || chain.bytes > bytes) {
          r = `its delta chain breaks the bounds (${chain?.hops} deltas, ${chain?.bytes} bytes)`;
        } else if (this.pages.chains.understates(chain)) r = UNDERSTATED;
      } catch (e) {
        if (!(e instanceof RevfsError)) throw e;
        r = e.message;
      }
      this.pageResult.set(k, r);
    }
    if (typeof r === "string") {
      this.problem(where, path, r);
      return null;
    }
    return r;
  }

  private dir(hash: PageHash | null, where: string, path: string, depth: number): number {
    if (hash === null) return 0;
    const seen = this.pageResult.has(hashKey(hash));
    const p = this.page(hash, where, path);
    if (p === null) return 0;
    if (p.kind === "dirinner") {
      let n = 0;
      for (const c of p.children) {
        if (!c) continue;
        const got = this.dir(c.page, where, path, depth + 1);
        if (got !== c.count && !seen) {
          this.problem(
            where,
            path,
            `directory page ${shortHex(hash)} counts ${c.count} names where its child holds ${got}`,
          );
        }
        n += c.count;
      }
      return n;
    }
    if (p.kind !== "dirleaf") {
      this.problem(where, path, `directory page ${shortHex(hash)} is a ${p.kind} page`);
      return 0;
    }
    if (!seen) {
      for (let i = 1; i < p.entries.length; i++) {
        if (!(p.entries[i - 1][0] < p.entries[i][0])) {
          this.problem(where, path, `directory page ${shortHex(hash)} is not sorted`);
        }
      }
      if (p.entries.length > LEAF_MAX && depth < 16) {
        this.problem(where, path, `directory page ${shortHex(hash)} is over-full`);
      }
    }
    for (const [name, e] of p.entries) this.entry(e, where, path ? `${path}/${name}` : name, seen);
    return p.entries.length;
  }

  /**
   * Every name of a hard-linked file in one revision: the entries must agree with each
   * other (one file: same type, size and content) and count their names right.
   */
  private checkLinks(where: string, links: Map<number, [string, Entry][]>): void {
    for (const [id, names] of links) {
      const [first] = names;
      const what = (e: Entry) => JSON.stringify([e.type, e.type === "file" ? e.size : 0, contentKey(e)]);
      if (names.some(([, e]) => e.link!.count !== names.length)) {
        this.problem(
          where,
          first[0],
          `hard link ${id} counts ${first[1].link!.count} names; the tree has ${names.length}`,
        );
      } else if (names.some(([, e]) => what(e) !== what(first[1]))) {
        this.problem(where, first[0], `the names of hard link ${id} do not hold the same file`);
      }
    }
  }

  private entry(e: Entry, where: string, path: string, seen: boolean): void {
    if (e.link && this.links) {
      const names = this.links.get(e.link.id);
      if (names) names.push([path, e]);
      else this.links.set(e.link.id, [[path, e]]);
    }
    if (e.type === "dir") this.dir(e.content, where, path, 0);
    else if (e.type === "file") this.file(e.content, e.size, where, path, seen);
  }

  private file(root: MapRoot | null, size: number, where: string, path: string, seen: boolean): void {
    this.map(root, where, path, Math.ceil(size / this.blockSize), size, seen);
  }

  private map(root: MapRoot | null, where: string, path: string, blocks: number, size: number, seen: boolean): void {
    const one = root === null ? undefined : oneBlockOf(root);
    if (one === undefined) return this.mapPage(root as PageHash | null, where, path, 0, blocks, size, seen);
    if (blocks < 1) this.problem(where, path, "block 0 lies past the end of the file");
    this.block(one, where, path, 0, size);
  }

  private mapPage(
    hash: PageHash | null,
    where: string,
    path: string,
    base: number,
    blocks: number,
    size: number,
    seen: boolean,
  ): void {
    if (hash === null) return;
    const p = this.page(hash, where, path);
    if (p === null) return;
    if (p.kind === "bminner") {
      const span = FANOUT ** p.level;
      p.slots.forEach((c, i) => this.mapPage(c, where, path, base + i * span, blocks, size, seen));
    } else if (p.kind === "bmleaf") {
      p.slots.forEach((b, i) => {
        const idx = base + i;
        if (!b) return;
        if (idx >= blocks) this.problem(where, path, `block ${idx} lies past the end of the file`);
        this.block(b, where, path, idx, size);
      });
    } else this.problem(where, path, `block map page ${shortHex(hash)} is a ${p.kind} page`);
  }

  private block(hash: BlockHash, where: string, path: string, idx: number, size: number): void {
    const k = hashKey(hash);
    let r = this.blockResult.get(k);
    if (r === undefined) {
      this.report.blocks++;
      try {
        r = this.blocks.getVerified(hash).length;
        const chain = this.blocks.chains.below(hash);
        if (!chain || chain.hops > MAX_DELTA_DEPTH || chain.bytes > maxChainBytes(this.blockSize)) {
          r = `its delta chain breaks the bounds (${chain?.hops} deltas, ${chain?.bytes} bytes)`;
        } else if (this.blocks.chains.understates(chain)) r = UNDERSTATED;
      } catch (e) {
        if (!(e instanceof RevfsError)) throw e;
        r = e.message;
      }
      this.blockResult.set(k, r);
    }
    if (typeof r === "string") this.problem(where, path, `block ${idx}: ${r}`);
    else if (r > Math.min(this.blockSize, size - idx * this.blockSize)) {
      this.problem(where, path, `block ${idx} holds ${r} bytes, more than the file has room for`);
    }
  }

  private head(head: Head): void {
    for (const [k, v] of this.records.range("inodes")) {
      const ino = readU64(k) as Ino;
      let i;
      try {
        i = decodeInode(ino, v);
      } catch (e) {
        this.problem("head", `inode ${ino}`, (e as Error).message);
        continue;
      }
      const path = `${i.name} (inode ${ino})`;
      if (i.type === "dir") this.dir(i.base, "head", path, 0);
      if (i.type === "file") {
        // A head base map may hold blocks past the current size until the next
        // snapshot cuts them; check their hashes, not their extent.
        this.map(i.base, "head", path, Infinity, Number.MAX_SAFE_INTEGER, false);
        for (const [idx, h] of head.files.overlay(ino)) if (h) this.block(h, "head", path, idx, i.size);
        if (i.inline && i.parent !== 0) {
          try {
            head.files.inlineBlock(i);
          } catch (e) {
            if (!(e instanceof RevfsError)) throw e;
            this.problem("head", path, e.message);
          }
        }
      }
    }
  }
}

/** What an entry points at, comparable: its map root, symlink target or device. */
function contentKey(e: Entry): string {
  if (e.type === "file") return e.content === null ? "" : hashKey(e.content);
  if (e.type === "symlink") return e.target;
  return e.type === "dir" ? "" : String(e.rdev);
}
