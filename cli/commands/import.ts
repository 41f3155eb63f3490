/** `revfs import`: make the head equal to DIR and snapshot it. */
import { storeApi } from "../lazy.ts";
import { flag } from "../args.ts";
import { out } from "../util.ts";
import { withProgress } from "../progress.ts";
import { RevfsError } from "../../store/types.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["import STORE DIR [-m MSG]", "make the head equal to DIR and snapshot it"]],
  args: { min: 2, max: 2, missing: "STORE DIR", flags: ["--message"] },
  async run(a) {
    const [storePath, dir] = a.positional;
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(dir);
    } catch {
      throw new RevfsError("NO_SUCH_PATH", `${dir} does not exist`);
    }
    if (!st.isDirectory) throw new RevfsError("NOT_A_DIR", `${dir} is not a directory`);
    const { openOrCreateStore } = await storeApi();
    const store = await openOrCreateStore(storePath);
    try {
      const rev = await withProgress("import", "bytes", (p) => store.importDir(dir, flag(a, "--message") ?? "", p));
      await store.flush();
      out(String(rev.rev));
    } finally {
      await store.close();
    }
    return 0;
  },
};
