/** `revfs ls`: list a directory (default: the head). */
import { flag, parseArgs } from "../args.ts";
import { atMost, isoTime, modeString, need, out, withStore } from "../util.ts";
import { type NodeInfo } from "../../mod.ts";
import type { Command } from "../command.ts";

export const ls: Command = {
  name: "ls",
  usage: [
    ["ls STORE [PATH] [--rev REV]", "list a directory (default: the head)"],
  ],
  async run(argv) {
    const a = parseArgs(argv, ["--rev"]);
    need(a, 1, "STORE");
    atMost(a, 2);
    const [storePath, path = ""] = a.positional;
    await withStore(storePath, false, (s) => {
      const view = s.view(s.resolve(flag(a, "--rev") ?? "head"));
      const info = view.stat(path);
      const rows: [string, NodeInfo][] = info.type === "dir" ? view.list(path) : [[path, info]];
      for (const [name, i] of rows) {
        const shown = i.type === "dir" ? `${name}/` : i.type === "symlink" ? `${name} -> ${i.target}` : name;
        out(`${modeString(i)}  ${String(i.size).padStart(12)}  ${isoTime(i.mtimeNs)}  ${shown}`);
      }
    });
    return 0;
  },
};
