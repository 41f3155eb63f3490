/** `revfs optimize`: re-delta history stored whole, train zstd dictionaries, re-encode records at a denser zstd level. */
import { withStore } from "../util.ts";
import { humanBytes, withProgress } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [[
    "optimize STORE",
    "make history stored whole deltas on newer versions; train zstd dictionaries; re-encode every record denser",
  ]],
  args: { min: 1, max: 1, missing: "STORE" },
  async run(a) {
    const r = await withStore(a.positional[0], { write: true }, async (s) => {
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
    const trained = result.trained.map((d) => `${d.kind === "*" ? "store" : `.${d.kind}`} ${humanBytes(d.bytes)}`);
    console.error(
      !result.trainer
        ? "revfs: no dictionary trainer here (needs the system libzstd.so.1); no dictionaries trained"
        : `revfs: ${
          trained.length ? `trained ${trained.length} dictionaries (${trained.join(", ")})` : "no new dictionaries"
        }` + (result.reused ? `, reused ${result.reused}` : ""),
    );
    if (result.converted > 0) {
      console.error(`revfs: ${result.converted} block records from before format 7 now carry their own checksum`);
    }
    const saved = result.bytesSaved + result.pageBytesSaved;
    console.error(
      `revfs: re-encoded at zstd level ${result.level}: ${result.recompressed} block records (saved ${
        humanBytes(result.bytesSaved)
      }) and pages (saved ${humanBytes(result.pageBytesSaved)})` +
        (r.before > 0 ? `; ${(100 * saved / r.before).toFixed(1)}% of stored bytes in all` : ""),
    );
    return 0;
  },
};
