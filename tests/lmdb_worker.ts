/// <reference lib="deno.worker" />
/** tests/lmdb_test.ts's worker thread: joins an environment the main thread opened, and reads it. */
import * as lmdb from "../sys/lmdb/mod.ts";

let env: lmdb.Env | undefined;

self.onmessage = (e: MessageEvent<{ op: string; dir?: string; mapBytes?: number }>) => {
  try {
    const m = e.data;
    if (m.op === "open") {
      env = lmdb.Env.open(m.dir!, { readOnly: true, tables: ["t"], mapBytes: m.mapBytes! });
      self.postMessage({ ok: true });
    } else if (m.op === "sum") {
      const txn = env!.begin(true);
      const v = env!.view(txn, env!.dbi("t")!, new Uint8Array([1]))!;
      let sum = 0;
      for (const b of v) sum += b;
      lmdb.abort(txn);
      self.postMessage({ ok: true, sum });
    } else {
      env!.close();
      self.postMessage({ ok: true });
    }
  } catch (err) {
    self.postMessage({ ok: false, error: (err as Error).message });
  }
};
