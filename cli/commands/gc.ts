/** `revfs gc`: free records no revision or the head uses. */
import { parseArgs } from "../args.ts";
import { atMost, need, withStore } from "../util.ts";
import { humanBytes, progressBar } from "../progress.ts";
import type { Command } from "../command.ts";

export const gc: Command = {
  name: "gc",
  usage: [
    ["gc STORE", "free records no revision or the head uses"],
  ],
  async run(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "STORE");
    atMost(a, 1);
    const r = await withStore(a.positional[0], true, (s) => {
      const bar = progressBar("gc", "items");
      const result = s.gc(bar.update);
      bar.done();
      return result;
    });
    console.error(
      `revfs: removed ${r.blocksRemoved} blocks and ${r.pagesRemoved} pages, ${humanBytes(r.bytesFreed)} of records` +
        (r.storedWhole > 0 ? `; stored ${r.storedWhole} deltas whole (their base went away)` : ""),
    );
    return 0;
  },
};
