/**
 * Re-deltas history that is stored whole: for each two revisions in a row, each file
 * that changed between them has the blocks its older version does not share with the
 * newer one re-encoded as reverse deltas on the newer version's blocks at the same
 * index (or beside it), as a snapshot does today. Stores written before snapshots
 * found a file's previous version by path (files saved by rename or re-create) shrink.
 *
 * Tree pages get the same: each directory trie and block map that changed between the
 * two revisions has its older pages made deltas on the newer ones.
 *
 * Blocks the head holds stay whole (the head never reads through a chain), and the
 * newest revision's blocks are never an older version. One transaction per pair of
 * revisions; re-encoding keeps each block's hash and is skipped for a record that is a
 * delta already, so an interrupted run leaves a valid store and a rerun carries on.
 */
import type { BlockStore } from "../blocks/block_store.ts";
import { hashKey } from "../blocks/hash.ts";
import type { Head } from "../head/head.ts";
import type { RecordStore } from "../records/records.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import { diffTrees } from "../tree/diff.ts";
import type { DirTrees } from "../tree/dir_tree.ts";
import { supersedeTrees } from "../tree/page_history.ts";
import type { PageStore } from "../tree/pages.ts";
import type { RevisionLog } from "../tree/revisions.ts";
import type { BlockHash, PageHash } from "../types.ts";

export interface RedeltaParts {
  records: RecordStore;
  blocks: BlockStore;
  pages: PageStore;
  log: RevisionLog;
  dirs: DirTrees;
  maps: BlockMaps;
  head: Head;
}

export interface RedeltaResult {
  /** Records re-encoded as deltas, and the bytes that saved. */
  deltas: number;
  bytesSaved: number;
}

/** Every block the head's files hold: their base maps and overlays. */
function headBlocks(p: RedeltaParts): Set<string> {
  const out = new Set<string>();
  for (const i of p.head.inodes.all()) {
    if (i.type !== "file") continue;
    for (const [, h] of p.head.files.presentBlocks(i)) out.add(hashKey(h));
  }
  return out;
}

export function redeltaHistory(
  p: RedeltaParts,
  progress: (done: number, total: number) => void = () => {},
): RedeltaResult {
  const result: RedeltaResult = { deltas: 0, bytesSaved: 0 };
  const revs = [...p.log.all()];
  const keep = headBlocks(p);
  for (let i = 1; i < revs.length; i++) {
    const changes = diffTrees(p.dirs, revs[i - 1].root, revs[i].root)
      .filter((c) => c.kind === "modified" && c.before?.type === "file" && c.after?.type === "file");
    p.records.write(() => {
      supersedeTrees(p.pages, p.dirs, revs[i - 1].root.content, revs[i].root.content);
      for (const c of changes) {
        const before = c.before as { content: PageHash | null };
        const after = c.after as { content: PageHash | null };
        if (before.content === null || after.content === null) continue;
        const now: BlockHash[] = [];
        for (const [idx, h] of p.maps.present(after.content)) now[idx] = h;
        const newer = new Set(now.filter((h) => h !== undefined).map(hashKey));
        for (const [idx, older] of p.maps.present(before.content)) {
          const k = hashKey(older);
          if (newer.has(k) || keep.has(k)) continue;
          const at = Math.min(idx, now.length - 1);
          const near = [now[at], now[at + 1], now[at - 1]].filter((h): h is BlockHash => h !== undefined);
          if (near.length === 0) continue;
          const saved = p.blocks.supersede(older, near[0], near.slice(1));
          if (saved > 0) {
            result.deltas++;
            result.bytesSaved += saved;
          }
        }
      }
    });
    progress(i, revs.length - 1);
  }
  return result;
}
