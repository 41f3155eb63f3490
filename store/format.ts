/**
 * The format's version and the default block size: constants a caller may need
 * without loading the store's code (LMDB, zstd). store/FORMAT.md documents each version.
 */

/** Bumped whenever the on-disk format changes; see store/FORMAT.md "Changes". */
export const FORMAT_VERSION = 9;
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
