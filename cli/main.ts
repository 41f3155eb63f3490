/**
 * The revfs command line: one module per command under cli/commands/, each with its
 * own usage lines, loaded only when that command runs (cli/lazy.ts); `revfs help` is
 * made from them all. Errors are one line on stderr and a non-zero exit (1 for a
 * failure, 2 for wrong use, 70 for a bug); nothing is written on error.
 */
import { RevfsError } from "../store/types.ts";
import { parseArgs } from "./args.ts";
import { COMMANDS, loadCommand } from "./lazy.ts";
import { atMost, need, UsageError } from "./util.ts";

/** Loads every command's module for its usage lines. */
export async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map(async (load) => (await load()).command));
  const lines = commands.flatMap((c) => c.usage);
  const width = Math.max(...lines.map(([synopsis]) => synopsis.length)) + 2;
  return [
    "usage: revfs COMMAND ...",
    "",
    ...lines.map(([synopsis, what]) => `  ${synopsis.padEnd(width)}${what}`),
    "",
    "REV is a revision number, a tag, or head.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    (name === undefined ? console.error : console.log)(await usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    console.error(`revfs: unknown command ${JSON.stringify(name)} (run revfs help)`);
    return 2;
  }
  try {
    const a = parseArgs(rest, cmd.args.flags ?? []);
    need(a, cmd.args.min, cmd.args.missing ?? "");
    atMost(a, cmd.args.max);
    return await cmd.run(a);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`revfs ${name}: ${e.message} (run revfs help)`);
      return 2;
    }
    if (e instanceof RevfsError) {
      console.error(`revfs: ${e.message}`);
      return 1;
    }
    if (e instanceof Deno.errors.BrokenPipe) return 0;
    console.error(`revfs: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return 70;
  }
}
