/** `revfs gc`: free records no revision or the head uses, and compact the store's file. */
import { storeApi } from "../lazy.ts";
import { findStore, withStore } from "../util.ts";
import { humanBytes, withProgress } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["gc STORE", "free records no revision or the head uses, and compact the store's file"]],
  args: { min: 1, max: 1, missing: "STORE" },
  async run(a) {
    const r = await withStore(a.positional[0], { write: true }, (s) => withProgress("gc", "items", (p) => s.gc(p)));
    console.error(
      `revfs: removed ${r.blocksRemoved} blocks and ${r.pagesRemoved} pages, ${humanBytes(r.bytesFreed)} of records` +
        (r.storedWhole > 0 ? `; re-encoded ${r.storedWhole} deltas whose base went away` : ""),
    );
    const { compactStore } = await storeApi();
    const c = await compactStore(findStore(a.positional[0]));
    console.error(
      c.compacted
        ? `revfs: compacted the store's file from ${humanBytes(c.bytesBefore)} to ${humanBytes(c.bytesAfter)}`
        : `revfs: did not compact the store's file (${humanBytes(c.bytesBefore)}): ${c.reason}`,
    );
    return 0;
  },
};
