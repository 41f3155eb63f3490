/** `revfs optimize`: re-delta history stored whole, train zstd dictionaries on the store's blocks and re-encode with them. */
import { withStore } from "../util.ts";
import { humanBytes, withProgress } from "../progress.ts";
import type { Command } from "../command.ts";

export const optimize: Command = {
  usage: [[
    "optimize STORE",
    "make history stored whole deltas on newer versions; train zstd dictionaries and re-encode with them",
  ]],
  args: { min: 1, max: 1, missing: "STORE" },
  async run(a) {
    const r = await withStore(a.positional[0], true, async (s) => {
      const before = s.stats().storedBytes;
      const result = await withProgress(
        "optimize",
        "items",
        (p) => s.optimize(p, (line) => console.error(`revfs: ${line}`)),
      );
      return { result, before };
    });
    const { result } = r;
    const { redelta } = result;
    if (redelta.deltas > 0) {
      console.error(
        `revfs: stored ${redelta.deltas} blocks of history as deltas on their newer versions, saved ${
          humanBytes(redelta.bytesSaved)
        }`,
      );
    }
    if (!result.trainer) {
      console.error("revfs: no dictionary trainer here (needs the system libzstd.so.1); no dictionaries trained");
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
