/** `revfs drop`: remove a revision (gc frees its space). */
import { revNumber, withStore } from "../util.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["drop STORE REV", "remove a revision (gc frees its space)"]],
  args: { min: 2, max: 2, missing: "STORE REV" },
  async run(a) {
    await withStore(a.positional[0], { write: true }, (s) => s.drop(revNumber(s, a.positional[1])));
    return 0;
  },
};
