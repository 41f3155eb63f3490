/** The layers of an open store, for the store's own modules and for tests (never for fs/ or cli/). */
import type { BlockStore } from "./blocks/block_store.ts";
import type { Head } from "./head/head.ts";
import type { LaterDeltas } from "./head/later_deltas.ts";
import type { RecordStore } from "./records/records.ts";
import type { BlockMaps } from "./tree/block_map.ts";
import type { DirTrees } from "./tree/dir_tree.ts";
import type { PageStore } from "./tree/pages.ts";
import type { RevisionLog } from "./tree/revisions.ts";

export interface StoreParts {
  readonly dir: string;
  readonly blockSize: number;
  readonly records: RecordStore;
  readonly blocks: BlockStore;
  readonly pages: PageStore;
  readonly maps: BlockMaps;
  readonly dirs: DirTrees;
  readonly log: RevisionLog;
  readonly head: Head;
  /** Reverse deltas snapshots decided on and have not made yet. */
  readonly laterDeltas: LaterDeltas;
}
