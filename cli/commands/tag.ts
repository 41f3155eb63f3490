/** `revfs tag`: name a revision (default: the latest). */
import { parseArgs } from "../args.ts";
import { atMost, need, revNumber, UsageError, withStore } from "../util.ts";
import { RevfsError } from "../../mod.ts";
import type { Command } from "../command.ts";

export const tag: Command = {
  name: "tag",
  usage: [
    ["tag STORE NAME [REV]", "name a revision (default: the latest)"],
    ["tag STORE --delete NAME", "remove a tag"],
  ],
  async run(argv) {
    const a = parseArgs(argv, ["--delete"]);
    need(a, 2, "STORE NAME");
    atMost(a, 3);
    const [storePath, name, spec] = a.positional;
    await withStore(storePath, true, (s) => {
      if (a.flags.has("--delete")) {
        if (spec !== undefined) throw new UsageError("tag --delete takes only NAME");
        s.untag(name);
        return;
      }
      const rev = spec !== undefined ? revNumber(s, spec) : s.latest()?.rev;
      if (rev === undefined) throw new RevfsError("UNKNOWN_REV", "the store has no revision to tag yet");
      s.tag(name, rev);
    });
    return 0;
  },
};
