/**
 * A full garbage collection on demand. V8 frees an ArrayBuffer's memory only when it
 * collects the buffer, and it collects for external memory only after that has grown by
 * about 64 MiB since its last full collection: a cache that lets go of block buffers
 * needs to ask sooner to stay near its budget (fs/memory_release.ts).
 *
 * `--expose-gc` set at run time is honoured for contexts created afterwards, so the
 * function comes from a fresh `node:vm` context; it collects the whole isolate.
 */
import v8 from "node:v8";
import vm from "node:vm";

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}
