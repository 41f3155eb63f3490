/** What the mount's page cache (fs/page_cache.ts) reports: its memory and what its reads and writes did. */
export interface PageCacheStats {
  budgetBytes: number;
  cachedBytes: number;
  dirtyBytes: number;
  /** Block buffers kept for reuse (fs/buffer_pool.ts), within the budget with the rest. */
  spareBytes: number;
  cachedBlocks: number;
  dirtyBlocks: number;
  dirtyFiles: number;
  /** Blocks a read or write found cached. */
  hits: number;
  /** Blocks loaded on the JS thread (a write's copy of a block, or no loader threads). */
  misses: number;
  /** Blocks loaded on the loader threads: for a read, and ahead of reads. */
  loads: number;
  readaheadLoads: number;
  /** Blocks of head files read in order whose records were asked of the store ahead (fs/head_prefetch.ts). */
  headPrefetches: number;
  /** Of `misses`, blocks decoded on the helper thread ahead of a reader in file order (fs/in_order_reads.ts). */
  decodedAhead: number;
  /** Files whose first blocks were asked for ahead of a reader of their directory (fs/dir_read_ahead.ts). */
  dirPrefetches: number;
  /** Reads that waited for a load another read had started. */
  sharedLoads: number;
  /** Loads running now. */
  loadsInFlight: number;
  /** Writeouts done and blocks they handed to the store (unchanged ones included). */
  writeouts: number;
  blocksWrittenOut: number;
  /** Fsyncs the store's write log answered, and the bytes they logged. */
  logs: number;
  loggedBytes: number;
}
