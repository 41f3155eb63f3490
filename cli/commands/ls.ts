/** `revfs ls`: list a directory (default: the head). */
import { flag } from "../args.ts";
import { isoTime, major, minor, modeString, out, withStore } from "../util.ts";
import type { NodeInfo } from "../../mod.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["ls STORE [PATH] [--rev REV]", "list a directory (default: the head)"]],
  args: { min: 1, max: 2, missing: "STORE", flags: ["--rev"] },
  async run(a) {
    const [storePath, path = ""] = a.positional;
    await withStore(storePath, {}, (s) => {
      const view = s.view(s.resolve(flag(a, "--rev") ?? "head"));
      const info = view.stat(path);
      const rows: [string, NodeInfo][] = info.type === "dir" ? view.list(path) : [[path, info]];
      for (const [name, i] of rows) {
        const shown = i.type === "dir" ? `${name}/` : i.type === "symlink" ? `${name} -> ${i.target}` : name;
        // A device shows its major, minor numbers where a file shows its size, as ls -l does.
        const size = i.rdev ? `${major(i.rdev)}, ${minor(i.rdev)}` : String(i.size);
        out(`${modeString(i)}  ${size.padStart(12)}  ${isoTime(i.mtimeNs)}  ${shown}`);
      }
    });
    return 0;
  },
};
