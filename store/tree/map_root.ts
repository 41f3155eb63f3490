/**
 * A file's block map root (FORMAT.md, "Block map"): none, a map page, or (format 6)
 * the file's one block. A file whose only block is block 0 (every file up to the block
 * size: most source files) would otherwise cost a map page of one slot, with its own
 * key and record, in every version.
 *
 * In memory a one-block root is its encoding, the marker byte then the block hash
 * (33 bytes), so roots compare and key by their bytes whatever their kind.
 */
import { Reader, Writer } from "../codec.ts";
import { copyBytes, smallBytes } from "../../sys/small_bytes.ts";
import { HASH_BYTES } from "../blocks/hash_keys.ts";
import { type BlockHash, type MapRoot, type PageHash, RevfsError } from "../types.ts";

const NONE = 0;
const PAGE = 1;
const ONE_BLOCK = 2;

export function oneBlockRoot(h: BlockHash): MapRoot {
  const root = smallBytes(1 + HASH_BYTES);
  root[0] = ONE_BLOCK;
  root.set(h, 1);
  return root as MapRoot;
}

/** The block of a one-block root; undefined for a map page. */
export function oneBlockOf(root: MapRoot): BlockHash | undefined {
  return root.length === 1 + HASH_BYTES ? root.subarray(1) as BlockHash : undefined;
}

/** The map page a root names; undefined for a one-block root. */
export function mapPageOf(root: MapRoot | null): PageHash | undefined {
  return root !== null && root.length === HASH_BYTES ? root as PageHash : undefined;
}

export function writeMapRoot(w: Writer, root: MapRoot | null): void {
  if (root === null) w.u8(NONE);
  else if (oneBlockOf(root)) w.raw(root);
  else w.u8(PAGE).raw(root);
}

export function readMapRoot(r: Reader): MapRoot | null {
  const tag = r.u8();
  if (tag === NONE) return null;
  if (tag === PAGE) return copyBytes(r.raw(HASH_BYTES)) as PageHash;
  if (tag === ONE_BLOCK) return oneBlockRoot(r.raw(HASH_BYTES) as BlockHash);
  throw new RevfsError("CORRUPT", `unknown block map root kind ${tag}`);
}
