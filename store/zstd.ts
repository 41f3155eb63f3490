/**
 * zstd through @bokuweb/zstd-wasm, initialised once per process, with one reused
 * compression and one reused decompression context for dictionary work.
 */
import {
  compress as zCompress,
  compressUsingDict,
  createCCtx,
  createDCtx,
  decompress as zDecompress,
  decompressUsingDict,
  init,
} from "zstd-wasm";

let ready: Promise<void> | undefined;
let cctx = 0;
let dctx = 0;

export function initZstd(): Promise<void> {
  ready ??= init().then(() => {
    cctx = createCCtx();
    dctx = createDCtx();
  });
  return ready;
}

export const ZSTD_LEVEL = 3;

export function compress(data: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
  return zCompress(data, level);
}

export function decompress(frame: Uint8Array): Uint8Array {
  return zDecompress(frame);
}

export function compressWithDict(data: Uint8Array, dict: Uint8Array, level = ZSTD_LEVEL): Uint8Array {
  return compressUsingDict(cctx, data, dict, level);
}

export function decompressWithDict(frame: Uint8Array, dict: Uint8Array): Uint8Array {
  return decompressUsingDict(dctx, frame, dict);
}
