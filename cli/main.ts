/**
 * The revfs command line: one module per command under cli/commands/, each with its
 * own usage lines; `revfs help` is made from them. Errors are one line on stderr and a
 * non-zero exit (1 for a failure, 2 for wrong use, 70 for a bug); nothing is written
 * on error.
 */
import { RevfsError } from "../store/types.ts";
import { parseArgs } from "./args.ts";
import { type Command, nameOf } from "./command.ts";
import { cat } from "./commands/cat.ts";
import { diff } from "./commands/diff.ts";
import { drop } from "./commands/drop.ts";
import { exportTree } from "./commands/export.ts";
import { gc } from "./commands/gc.ts";
import { importDir } from "./commands/import.ts";
import { init } from "./commands/init.ts";
import { log } from "./commands/log.ts";
import { ls } from "./commands/ls.ts";
import { mount } from "./commands/mount.ts";
import { optimize } from "./commands/optimize.ts";
import { restore } from "./commands/restore.ts";
import { snapshot } from "./commands/snapshot.ts";
import { stats } from "./commands/stats.ts";
import { tag } from "./commands/tag.ts";
import { unmount } from "./commands/unmount.ts";
import { verify } from "./commands/verify.ts";
import { atMost, need, UsageError } from "./util.ts";

/** In the order `revfs help` lists them. */
const COMMANDS: Command[] = [
  mount,
  unmount,
  init,
  importDir,
  exportTree,
  snapshot,
  log,
  ls,
  cat,
  diff,
  restore,
  tag,
  drop,
  gc,
  stats,
  optimize,
  verify,
];

export function usage(): string {
  const lines = COMMANDS.flatMap((c) => c.usage);
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
    (name === undefined ? console.error : console.log)(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => nameOf(c) === name);
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
