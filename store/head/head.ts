/**
 * The head: the working state a writer changes (the mount, `import`, `restore`). It is
 * an inode namespace persisted in the store's records, in four parts, one job each:
 *
 * - `inodes`: the inode, dirent and dirty-name records (store/head/inodes.ts);
 * - `files`: each file's blocks, a base block map under an overlay (file_blocks.ts),
 *   and `fresh`, the blocks only the overlay holds, freed when it lets go (fresh_blocks.ts);
 * - `names`: create, remove, rename, setattr, freeing unnamed inodes (namespace.ts);
 * - `pins`: inodes open in this process, which outlive their last name (pins.ts).
 *
 * Every change marks the changed name in `dirty`, so a snapshot (snapshot.ts) rebuilds
 * only the changed files and directories. Nothing here opens a transaction: the store
 * (store/store.ts) decides how changes are committed.
 */
import type { BlockStore } from "../blocks/block_store.ts";
import type { RecordStore } from "../records/records.ts";
import type { BlockMaps } from "../tree/block_map.ts";
import type { DirTrees } from "../tree/dir_tree.ts";
import { FileBlocks } from "./file_blocks.ts";
import { FreshBlocks } from "./fresh_blocks.ts";
import { Inodes } from "./inodes.ts";
import { Namespace } from "./namespace.ts";
import { Pins } from "./pins.ts";

export class Head {
  readonly inodes: Inodes;
  readonly files: FileBlocks;
  readonly fresh: FreshBlocks;
  readonly pins = new Pins();
  readonly names: Namespace;

  constructor(records: RecordStore, blocks: BlockStore, maps: BlockMaps, dirs: DirTrees, readonly blockSize: number) {
    this.inodes = new Inodes(records);
    this.fresh = new FreshBlocks(records, blocks);
    this.files = new FileBlocks(records, this.inodes, blocks, maps, dirs, this.fresh, blockSize);
    this.names = new Namespace(this.inodes, this.files, this.pins);
  }
}
