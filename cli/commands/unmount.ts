/** `revfs unmount`: unmount a running revfs mount. */
import { parseArgs } from "../args.ts";
import { atMost, need } from "../util.ts";
import { RevfsError } from "../../mod.ts";
import type { Command } from "../command.ts";

export const unmount: Command = {
  name: "unmount",
  usage: [
    ["unmount MOUNTPOINT", "unmount a running revfs mount"],
  ],
  async run(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "MOUNTPOINT");
    atMost(a, 1);
    const r = await new Deno.Command("fusermount3", { args: ["-u", a.positional[0]], stderr: "piped" }).output();
    if (r.code !== 0) {
      const why = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? "";
      throw new RevfsError("INVALID", `cannot unmount ${a.positional[0]}: ${why.replace(/^fusermount3: /, "")}`);
    }
    return 0;
  },
};
