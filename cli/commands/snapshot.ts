/** `revfs snapshot`: checkpoint the head (asks a running mount); prints the revision number. */
import { flag } from "../args.ts";
import { findStore, out, withStore } from "../util.ts";
import { RevfsError } from "../../store/types.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["snapshot [STORE] [-m MSG]", "checkpoint the head (asks a running mount); prints the revision number"]],
  args: { min: 0, max: 1, flags: ["--message"] },
  async run(a) {
    const { askMount } = await import("../../fs/control_client.ts");
    const storeDir = findStore(a.positional[0]);
    const message = flag(a, "--message") ?? "";
    const reply = await askMount(storeDir, { op: "snapshot", message });
    if (reply) {
      if (!reply.ok) throw new RevfsError("INVALID", reply.error);
      if (!("rev" in reply)) throw new RevfsError("INVALID", "the mount gave no revision number");
      out(String(reply.rev));
      return 0;
    }
    const rev = await withStore(storeDir, { write: true }, (s) => s.snapshot(message));
    out(String(rev.rev));
    return 0;
  },
};
