/**
 * The long crash soak: `deno task soak [--rounds N] [--seed S]` runs the crash test
 * of tests/crash_harness.ts for N kill points (default 200) on one growing store and
 * prints what was checked and every loss. Exits non-zero on any loss.
 */
import { Rng } from "../tests/helpers.ts";
import { runCrashRounds } from "../tests/crash_harness.ts";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const rounds = Number(option("rounds") ?? 200);
const seed = Number(option("seed") ?? Date.now() % 1e9);
const keep = Deno.args.includes("--keep");
const dir = await Deno.makeTempDir({ prefix: "revfs-soak-" });
console.log(`crash soak: ${rounds} kill points, seed ${seed}, in ${dir}`);
// Stopped early: unmounting ends the round's mount process; then clean up.
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    new Deno.Command("fusermount3", { args: ["-u", "-z", `${dir}/mnt`], stderr: "null" }).outputSync();
    if (!keep) Deno.removeSync(dir, { recursive: true });
    Deno.exit(130);
  });
}
const t0 = performance.now();
try {
  const report = await runCrashRounds({
    rounds,
    rng: new Rng(seed),
    dir,
    maxRoundMs: 2500,
    checkAllRevisions: false,
    log: (line) => console.log(`  ${line}`),
  });
  const minutes = ((performance.now() - t0) / 60_000).toFixed(1);
  console.log(JSON.stringify({ seed, minutes: Number(minutes), ...report }, null, 2));
  console.log(
    `${report.kills} kill points, ${report.opsCompleted} operations, ${report.snapshotsMade} snapshots ` +
      `(${report.snapshotsUnreported} more committed but unreported), ${report.revisionChecks} revision checks, ` +
      `${report.fsyncedFilesChecked} fsync'd files checked: ${report.losses.length} losses (${minutes} min)`,
  );
  for (const l of report.losses) console.log(`LOSS ${l}`);
  if (report.losses.length > 0) Deno.exitCode = 1;
} finally {
  if (!keep) await Deno.remove(dir, { recursive: true });
}
