/** `revfs cat`: write a file to stdout (default: the head). */
import { storeApi } from "../lazy.ts";
import { flag } from "../args.ts";
import { withStore } from "../util.ts";
import type { NodeInfo } from "../../mod.ts";
import { RevfsError } from "../../store/types.ts";
import type { Command } from "../command.ts";

/** Bytes held back before writing, so a damaged block in a file up to this size writes nothing. */
const CAT_BUFFER = 64 << 20;

const TYPE_NAME: Record<NodeInfo["type"], string> = {
  file: "file",
  dir: "directory",
  symlink: "symlink",
  fifo: "FIFO",
  socket: "socket",
  chardev: "character device",
  blockdev: "block device",
};

export const command: Command = {
  usage: [["cat STORE PATH [--rev REV]", "write a file to stdout (default: the head)"]],
  args: { min: 2, max: 2, missing: "STORE PATH", flags: ["--rev"] },
  async run(a) {
    const [storePath, path] = a.positional;
    const { fileChunks } = await storeApi();
    await withStore(storePath, {}, async (s) => {
      const spec = s.resolve(flag(a, "--rev") ?? "head");
      const view = s.view(spec);
      const info = view.stat(path);
      if (info.type !== "file") {
        throw new RevfsError(
          "IS_A_DIR",
          `${path} is a ${TYPE_NAME[info.type]}, not a file, in ${view.label}`,
        );
      }
      // Hold back the first CAT_BUFFER bytes, so that a damaged block in a file of
      // up to that size fails with nothing written.
      const held: Uint8Array[] = [];
      let heldBytes = 0;
      const w = Deno.stdout.writable.getWriter();
      try {
        for (const chunk of fileChunks(view, path, s.blockSize)) {
          if (heldBytes < CAT_BUFFER) {
            held.push(chunk.slice());
            heldBytes += chunk.length;
            continue;
          }
          for (const c of held.splice(0)) await w.write(c);
          await w.write(chunk);
        }
        for (const c of held) await w.write(c);
      } catch (e) {
        // A damaged block names itself; say which file of which revision it belongs to.
        if (e instanceof RevfsError && e.path === undefined) {
          throw e.with({ path, rev: spec === "head" ? undefined : spec });
        }
        throw e;
      } finally {
        w.releaseLock();
      }
    });
    return 0;
  },
};
