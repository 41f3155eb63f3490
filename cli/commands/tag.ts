/** `revfs tag`: name a revision (default: the latest). */
import { revNumber, UsageError, withStore } from "../util.ts";
import { RevfsError } from "../../store/types.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [
    ["tag STORE NAME [REV]", "name a revision (default: the latest)"],
    ["tag STORE --delete NAME", "remove a tag"],
  ],
  args: { min: 2, max: 3, missing: "STORE NAME", flags: ["--delete"] },
  async run(a) {
    const [storePath, name, spec] = a.positional;
    await withStore(storePath, { write: true }, (s) => {
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
