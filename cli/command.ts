/** What a revfs command is: its usage lines, the arguments it takes, and what it does. */
import type { Args } from "./args.ts";

export interface Command {
  /**
   * Usage lines, synopsis then description; the first synopsis starts with the command's
   * name, its key in cli/lazy.ts's COMMANDS. `revfs help` is made from these.
   */
  usage: [string, string][];
  /** Positional arguments, at least `min` (named `missing` when fewer) and at most `max`; the flags it takes. */
  args: { min: number; max: number; missing?: string; flags?: string[] };
  /** Runs the command on its parsed arguments; returns the exit code. */
  run(a: Args): Promise<number>;
}
