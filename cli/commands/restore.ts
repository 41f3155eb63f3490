/** `revfs restore`: copy PATH as it was in REV into the head. */
import { flag } from "../args.ts";
import { revNumber, UsageError, withStore } from "../util.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["restore STORE PATH --rev REV", "copy PATH as it was in REV into the head"]],
  args: { min: 2, max: 2, missing: "STORE PATH", flags: ["--rev"] },
  async run(a) {
    const spec = flag(a, "--rev");
    if (spec === undefined) throw new UsageError("restore needs --rev REV");
    const [storePath, path] = a.positional;
    await withStore(storePath, { write: true }, (s) => s.restore(path, revNumber(s, spec)));
    console.error(`revfs: restored ${path} from revision ${spec} into the head`);
    return 0;
  },
};
