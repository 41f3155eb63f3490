/** `revfs optimize`: train zstd dictionaries on the store's blocks and re-encode with them. */
import { parseArgs } from "../args.ts";
import { atMost, need, withStore } from "../util.ts";
import { humanBytes, progressBar } from "../progress.ts";
import type { Command } from "../command.ts";

export const optimize: Command = {
  name: "optimize",
  usage: [
    ["optimize STORE", "train zstd dictionaries on the store's blocks and re-encode with them"],
  ],
  async run(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "STORE");
    atMost(a, 1);
    const r = await withStore(a.positional[0], true, (s) => {
      const before = s.stats().storedBytes;
      const bar = progressBar("optimize", "items");
      const result = s.optimize(bar.update, (line) => console.error(`revfs: ${line}`));
      bar.done();
      return { result, before };
    });
    const { result } = r;
    if (!result.trainer) {
      console.error("revfs: no dictionary trainer here (needs the system libzstd.so.1); the store is unchanged");
      return 0;
    }
    const trained = result.trained.map((d) => `${d.kind === "*" ? "store" : `.${d.kind}`} ${humanBytes(d.bytes)}`);
    console.error(
      `revfs: ${
        trained.length ? `trained ${trained.length} dictionaries (${trained.join(", ")})` : "no new dictionaries"
      }` +
        (result.reused ? `, reused ${result.reused}` : "") +
        `; re-encoded ${result.recompressed} of ${result.blocks} blocks, saved ${humanBytes(result.bytesSaved)}` +
        (r.before > 0 ? ` (${(100 * result.bytesSaved / r.before).toFixed(1)}% of stored bytes)` : ""),
    );
    return 0;
  },
};
