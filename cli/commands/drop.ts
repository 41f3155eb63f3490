/** `revfs drop`: remove a revision (gc frees its space). */
import { parseArgs } from "../args.ts";
import { atMost, need, revNumber, withStore } from "../util.ts";
import type { Command } from "../command.ts";

export const drop: Command = {
  name: "drop",
  usage: [
    ["drop STORE REV", "remove a revision (gc frees its space)"],
  ],
  async run(argv) {
    const a = parseArgs(argv, []);
    need(a, 2, "STORE REV");
    atMost(a, 2);
    await withStore(a.positional[0], true, (s) => s.drop(revNumber(s, a.positional[1])));
    return 0;
  },
};
