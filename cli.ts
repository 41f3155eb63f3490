/** The revfs command: `revfs COMMAND ...` (see cli/main.ts, and `revfs help`). */
import { main } from "./cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
