/** `revfs init`: create an empty store. */
import { storeApi } from "../lazy.ts";
import { flag } from "../args.ts";
import { humanBytes } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["init STORE [--block-size BYTES]", "create an empty store"]],
  args: { min: 1, max: 1, missing: "STORE", flags: ["--block-size"] },
  async run(a) {
    const bs = flag(a, "--block-size");
    const { initStore } = await storeApi();
    const store = await initStore(a.positional[0], { blockSize: bs === undefined ? undefined : Number(bs) });
    await store.close();
    console.error(`revfs: created store ${a.positional[0]} (block size ${humanBytes(store.blockSize)})`);
    return 0;
  },
};
