/** `revfs import`: make the head equal to DIR and snapshot it. */
import { flag, parseArgs } from "../args.ts";
import { atMost, need, out } from "../util.ts";
import { progressBar } from "../progress.ts";
import { openOrCreateStore, RevfsError } from "../../mod.ts";
import type { Command } from "../command.ts";

export const importDir: Command = {
  name: "import",
  usage: [
    ["import STORE DIR [-m MSG]", "make the head equal to DIR and snapshot it"],
  ],
  async run(argv) {
    const a = parseArgs(argv, ["--message"]);
    need(a, 2, "STORE DIR");
    atMost(a, 2);
    const [storePath, dir] = a.positional;
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(dir);
    } catch {
      throw new RevfsError("NO_SUCH_PATH", `${dir} does not exist`);
    }
    if (!st.isDirectory) throw new RevfsError("NOT_A_DIR", `${dir} is not a directory`);
    const store = await openOrCreateStore(storePath);
    try {
      const bar = progressBar("import", "bytes");
      const rev = await store.importDir(dir, flag(a, "--message") ?? "", bar.update);
      bar.done();
      await store.flush();
      out(String(rev.rev));
    } finally {
      await store.close();
    }
    return 0;
  },
};
