/** Command-line parsing: positionals and the few flags revfs commands take. */
import { RevfsError } from "../store/types.ts";

export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/** Flags that take a value; every other flag is a switch. */
const VALUED = new Set(["-m", "--message", "--rev", "--block-size", "--cache-mb"]);
const ALIASES: Record<string, string> = { "-m": "--message" };

export function parseArgs(argv: string[], allowed: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("-") && a !== "-") {
      let [name, value] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
      name = ALIASES[name] ?? name;
      if (!allowed.includes(name)) throw new RevfsError("INVALID", `unknown option ${a}`);
      if (VALUED.has(name) || VALUED.has(a)) {
        if (value === undefined) {
          if (i + 1 >= argv.length) throw new RevfsError("INVALID", `option ${a} needs a value`);
          value = argv[++i];
        }
        flags.set(name, value);
      } else {
        if (value !== undefined) throw new RevfsError("INVALID", `option ${name} takes no value`);
        flags.set(name, true);
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

export function flag(args: Args, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}
