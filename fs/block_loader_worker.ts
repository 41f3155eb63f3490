/// <reference lib="deno.worker" />
/**
 * One block loader thread (see fs/block_loader.ts): opens the store for reading and
 * answers each load with the block's verified bytes, transferred, or with the error.
 */
import { openStore, RevfsError, type VersionedStore } from "../mod.ts";
import type { BlockLoad, LoaderReply, LoaderRequest, LoadResult } from "./block_loader.ts";

/** Test hook: every load waits this long first, so a test can see what a slow load holds up. */
const delayMs = Number(Deno.env.get("REVFS_TEST_LOAD_DELAY_MS") ?? 0);

let store: VersionedStore | undefined;

function send(m: LoaderReply, transfer: Transferable[] = []): void {
  self.postMessage(m, transfer);
}

function load({ id, hash, into }: BlockLoad): LoadResult {
  try {
    const before = store!.recordsDecoded;
    const data = store!.loadBlock(hash, into && new Uint8Array(into));
    const records = store!.recordsDecoded - before;
    // Transfer a buffer that starts with the block (`into`, or one of its own): a view
    // into a larger buffer would transfer all of it.
    const own = data.byteOffset === 0 && (data.buffer === into || data.byteLength === data.buffer.byteLength)
      ? data
      : data.slice();
    return { id, ok: true, data: own.buffer as ArrayBuffer, length: own.length, records };
  } catch (e) {
    const code = e instanceof RevfsError ? e.code : undefined;
    return { id, ok: false, code, message: e instanceof Error ? e.message : String(e) };
  }
}

self.onmessage = async (ev: MessageEvent<LoaderRequest>) => {
  const m = ev.data;
  switch (m.kind) {
    case "open":
      try {
        store = await openStore(m.storeDir, { verifyReads: m.verifyReads });
        send({ kind: "ready" });
      } catch (e) {
        send({ kind: "open-failed", message: (e as Error).message });
      }
      return;
    case "load": {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      // A batch's records asked of the disk together: each load then waits for none alone.
      if (m.loads.length > 1) store!.prefetchBlocks(m.loads.map((l) => l.hash));
      const results = m.loads.map(load);
      send({ kind: "loaded", results }, results.flatMap((r) => r.ok ? [r.data] : []));
      return;
    }
    case "close":
      await store?.close();
      store = undefined;
      send({ kind: "closed" });
      return;
  }
};
