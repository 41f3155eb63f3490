/** `revfs restore`: copy PATH as it was in REV into the head. */
import { flag, parseArgs } from "../args.ts";
import { atMost, need, revNumber, UsageError, withStore } from "../util.ts";
import type { Command } from "../command.ts";

export const restore: Command = {
  name: "restore",
  usage: [
    ["restore STORE PATH --rev REV", "copy PATH as it was in REV into the head"],
  ],
  async run(argv) {
    const a = parseArgs(argv, ["--rev"]);
    need(a, 2, "STORE PATH");
    atMost(a, 2);
    const spec = flag(a, "--rev");
    if (spec === undefined) throw new UsageError("restore needs --rev REV");
    const [storePath, path] = a.positional;
    await withStore(storePath, true, (s) => s.restore(path, revNumber(s, spec)));
    console.error(`revfs: restored ${path} from revision ${spec} into the head`);
    return 0;
  },
};
