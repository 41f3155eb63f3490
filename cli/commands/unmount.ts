/** `revfs unmount`: unmount a running revfs mount. */
import { RevfsError } from "../../store/types.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["unmount MOUNTPOINT", "unmount a running revfs mount"]],
  args: { min: 1, max: 1, missing: "MOUNTPOINT" },
  async run(a) {
    const r = await new Deno.Command("fusermount3", { args: ["-u", a.positional[0]], stderr: "piped" }).output();
    if (r.code !== 0) {
      const why = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? "";
      throw new RevfsError("INVALID", `cannot unmount ${a.positional[0]}: ${why.replace(/^fusermount3: /, "")}`);
    }
    return 0;
  },
};
