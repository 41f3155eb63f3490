/** `revfs verify`: check every record of every revision. */
import { parseArgs } from "../args.ts";
import { atMost, need, out, withStore } from "../util.ts";
import { progressBar } from "../progress.ts";
import type { Command } from "../command.ts";

export const verify: Command = {
  name: "verify",
  usage: [
    ["verify STORE", "check every record of every revision"],
  ],
  async run(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "STORE");
    atMost(a, 1);
    const report = await withStore(a.positional[0], false, (s) => {
      const bar = progressBar("verify", "items");
      const r = s.verify(bar.update);
      bar.done();
      return r;
    });
    for (const p of report.problems) console.error(`revfs: ${p}`);
    const summary = `${report.revisions} revisions, ${report.pages} pages, ${report.blocks} blocks`;
    if (report.problems.length > 0) {
      console.error(`revfs: verify failed: ${report.problems.length} problems in ${summary}`);
      return 1;
    }
    out(`ok: ${summary} verified`);
    return 0;
  },
};
