/** `revfs mount`: mount the store (created if missing); stays in the foreground. */
import { mountCode } from "../lazy.ts";
import { flag } from "../args.ts";
import { RevfsError } from "../../store/types.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [
    ["mount STORE MOUNTPOINT", "mount the store (created if missing); stays in the foreground"],
    ["      [--cache-mb N]", "block cache memory in MiB, clean and dirty (default 256)"],
    ["      [--allow-other]", "let other users in (permission bits still apply); default: only you"],
    [
      "      [--xattrs]",
      "serve extended attributes and POSIX ACLs (each write then costs the kernel one more request)",
    ],
    ["      [--verify-reads]", "check every block read against its SHA-256 name, not only its checksum"],
  ],
  args: {
    min: 2,
    max: 2,
    missing: "STORE MOUNTPOINT",
    flags: ["--cache-mb", "--allow-other", "--xattrs", "--verify-reads"],
  },
  async run(a) {
    const mb = flag(a, "--cache-mb");
    if (mb !== undefined && !/^[1-9][0-9]*$/.test(mb)) {
      throw new RevfsError("INVALID", `--cache-mb takes a whole number of MiB, not ${JSON.stringify(mb)}`);
    }
    const { mountStore } = await mountCode();
    const m = await mountStore(a.positional[0], a.positional[1], {
      cacheBytes: mb === undefined ? undefined : Number(mb) * 1024 * 1024,
      allowOther: a.flags.has("--allow-other"),
      xattrs: a.flags.has("--xattrs"),
      verifyReads: a.flags.has("--verify-reads"),
    });
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => m.unmount());
    console.error(`revfs: ${a.positional[0]} mounted on ${a.positional[1]} (Ctrl-C or revfs unmount to stop)`);
    await m.done;
    return 0;
  },
};
