/** `revfs diff`: paths that differ: A added, D deleted, M modified, T type changed. */
import { out, revNumber, withStore } from "../util.ts";
import type { Change } from "../../mod.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["diff STORE REV1 REV2", "paths that differ: A added, D deleted, M modified, T type changed"]],
  args: { min: 3, max: 3, missing: "STORE REV1 REV2" },
  async run(a) {
    const [storePath, r1, r2] = a.positional;
    await withStore(storePath, {}, (s) => {
      const letter: Record<Change["kind"], string> = { added: "A", deleted: "D", modified: "M", "type-changed": "T" };
      for (const c of s.diff(revNumber(s, r1), revNumber(s, r2))) out(`${letter[c.kind]}  ${c.path}`);
    });
    return 0;
  },
};
