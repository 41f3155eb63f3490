/** `revfs export`: write revision REV into an empty or new DIR. */
import { parseArgs } from "../args.ts";
import { atMost, need, withStore } from "../util.ts";
import { progressBar } from "../progress.ts";
import type { Command } from "../command.ts";

export const exportTree: Command = {
  name: "export",
  usage: [
    ["export STORE REV DIR", "write revision REV into an empty or new DIR"],
  ],
  async run(argv) {
    const a = parseArgs(argv, []);
    need(a, 3, "STORE REV DIR");
    atMost(a, 3);
    const [storePath, spec, dir] = a.positional;
    await withStore(storePath, false, async (s) => {
      const bar = progressBar("export", "bytes");
      await s.exportTree(s.resolve(spec), dir, bar.update);
      bar.done();
    });
    return 0;
  },
};
