/** `revfs export`: write revision REV into an empty or new DIR. */
import { withStore } from "../util.ts";
import { withProgress } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["export STORE REV DIR", "write revision REV into an empty or new DIR"]],
  args: { min: 3, max: 3, missing: "STORE REV DIR" },
  async run(a) {
    const [storePath, spec, dir] = a.positional;
    // What leaves the store is checked against its SHA-256 names, not only checksums.
    await withStore(storePath, { verifyReads: true }, async (s) => {
      await withProgress("export", "bytes", (p) => s.exportTree(s.resolve(spec), dir, p));
    });
    return 0;
  },
};
