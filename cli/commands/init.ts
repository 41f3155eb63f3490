/** `revfs init`: create an empty store. */
import { flag, parseArgs } from "../args.ts";
import { atMost, need } from "../util.ts";
import { humanBytes } from "../progress.ts";
import { initStore } from "../../mod.ts";
import type { Command } from "../command.ts";

export const init: Command = {
  name: "init",
  usage: [
    ["init STORE [--block-size BYTES]", "create an empty store"],
  ],
  async run(argv) {
    const a = parseArgs(argv, ["--block-size"]);
    need(a, 1, "STORE");
    atMost(a, 1);
    const bs = flag(a, "--block-size");
    const store = await initStore(a.positional[0], { blockSize: bs === undefined ? undefined : Number(bs) });
    await store.close();
    console.error(`revfs: created store ${a.positional[0]} (block size ${humanBytes(store.blockSize)})`);
    return 0;
  },
};
