/**
 * Time spent per kind of request, for profiling the mount: REVFS_OP_TIMES=FILE makes a
 * session write, when it ends, each operation's count and total, mean and longest time
 * from receiving the request to replying, as JSON. Off, it costs one branch per request.
 */
export class OpTimes {
  private readonly ops = new Map<string, { count: number; totalMs: number; maxMs: number }>();

  private constructor(private readonly file: string) {}

  static fromEnv(): OpTimes | null {
    const file = Deno.env.get("REVFS_OP_TIMES");
    return file ? new OpTimes(file) : null;
  }

  add(op: string, ms: number): void {
    let t = this.ops.get(op);
    if (!t) this.ops.set(op, t = { count: 0, totalMs: 0, maxMs: 0 });
    t.count++;
    t.totalMs += ms;
    t.maxMs = Math.max(t.maxMs, ms);
  }

  write(): void {
    const rows = [...this.ops].sort((a, b) => b[1].totalMs - a[1].totalMs).map(([op, t]) => ({
      op,
      count: t.count,
      totalMs: +t.totalMs.toFixed(1),
      meanUs: Math.round(t.totalMs / t.count * 1000),
      maxMs: +t.maxMs.toFixed(2),
    }));
    Deno.writeTextFileSync(this.file, JSON.stringify(rows, null, 1) + "\n");
  }
}
