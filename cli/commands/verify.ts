/** `revfs verify`: check every record of every revision. */
import { out, withStore } from "../util.ts";
import { withProgress } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["verify STORE", "check every record of every revision"]],
  args: { min: 1, max: 1, missing: "STORE" },
  async run(a) {
    const report = await withStore(a.positional[0], {}, (s) => {
      return withProgress("verify", "items", (p) => s.verify(p));
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
