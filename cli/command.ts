/** What a revfs command is: its name, its lines of the usage text, and what it does. */
export interface Command {
  name: string;
  /** Usage lines, synopsis then description; `revfs help` is made from these. */
  usage: [string, string][];
  /** Runs the command on its arguments; returns the exit code. */
  run(argv: string[]): Promise<number>;
}
