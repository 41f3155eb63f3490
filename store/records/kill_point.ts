/**
 * Fault injection for the crash tests: REVFS_TEST_KILL_BEFORE_TXN=N makes the process
 * SIGKILL itself at its N-th kill point (each write transaction as it begins, and
 * compaction's steps), so a test can stop a command between any two of its commits and
 * check what the store holds.
 */
const killBeforeTxn = Number(Deno.env.get("REVFS_TEST_KILL_BEFORE_TXN") ?? 0);
let txnsBegun = 0;

/** A point where the crash tests may kill the process. */
export function killPoint(): void {
  if (killBeforeTxn > 0 && ++txnsBegun === killBeforeTxn) Deno.kill(Deno.pid, "SIGKILL");
}
