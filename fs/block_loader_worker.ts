/// <reference lib="deno.worker" />
/**
 * One block loader thread (see fs/block_loader.ts): opens the store for reading and
 * answers each load with the block's verified bytes, transferred, or with the error.
 */
import { openStore, RevfsError, type VersionedStore } from "../mod.ts";
import type { LoaderReply, LoaderRequest } from "./block_loader.ts";

/** Test hook: every load waits this long first, so a test can see what a slow load holds up. */
const delayMs = Number(Deno.env.get("REVFS_TEST_LOAD_DELAY_MS") ?? 0);

let store: VersionedStore | undefined;

function send(m: LoaderReply, transfer: Transferable[] = []): void {
  self.postMessage(m, transfer);
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
    case "load":
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      try {
        const data = store!.loadBlock(m.hash, m.into && new Uint8Array(m.into));
        // Transfer a buffer that starts with the block (`into`, or one of its own): a view
        // into a larger buffer would transfer all of it.
        const own = data.byteOffset === 0 && (data.buffer === m.into || data.byteLength === data.buffer.byteLength)
          ? data
          : data.slice();
        const buffer = own.buffer as ArrayBuffer;
        send({ kind: "loaded", id: m.id, data: buffer, length: own.length }, [buffer]);
      } catch (e) {
        const code = e instanceof RevfsError ? e.code : undefined;
        send({ kind: "failed", id: m.id, code, message: e instanceof Error ? e.message : String(e) });
      }
      return;
    case "close":
      await store?.close();
      store = undefined;
      send({ kind: "closed" });
      return;
  }
};
