/** `revfs log`: list revisions, newest first. */
import { out, withStore } from "../util.ts";
import { humanBytes } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["log STORE [--json]", "list revisions, newest first"]],
  args: { min: 1, max: 1, missing: "STORE", flags: ["--json"] },
  async run(a) {
    await withStore(a.positional[0], {}, (s) => {
      const revs = s.revisions().reverse();
      if (a.flags.has("--json")) {
        const added = s.revisionCosts();
        out(JSON.stringify(revs.map((r) => ({
          rev: r.rev,
          parent: r.parent || null,
          time: new Date(r.timeMs).toISOString(),
          message: r.message,
          tags: s.tagsOf(r.rev),
          bytes: r.root.size,
          addedBytes: added.get(r.rev) ?? 0,
        }))));
        return;
      }
      for (const r of revs) {
        const tags = s.tagsOf(r.rev);
        const when = new Date(r.timeMs).toISOString().replace("T", " ").slice(0, 19);
        out(
          `${String(r.rev).padStart(5)}  ${when}  ${humanBytes(r.root.size).padStart(10)}  ${
            tags.length ? `(${tags.join(", ")}) ` : ""
          }${r.message}`,
        );
      }
    });
    return 0;
  },
};
