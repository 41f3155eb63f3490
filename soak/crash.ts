/**
 * The long crash soak: `deno task soak [--rounds N] [--seed S]` runs the crash test
 * of tests/crash_harness.ts for N kill points (default 200), on a fresh store every 25
 * rounds, and prints what was checked and every loss. Exits non-zero on any loss.
 */
import { Rng } from "../tests/helpers.ts";
import { addReport, emptyReport, runCrashRounds } from "../tests/crash_harness.ts";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const rounds = Number(option("rounds") ?? 200);
const seed = Number(option("seed") ?? Date.now() % 1e9);
const keep = Deno.args.includes("--keep");
const dir = await Deno.makeTempDir({ prefix: "revfs-soak-" });
console.log(`crash soak: ${rounds} kill points, seed ${seed}, in ${dir}`);
let current = dir;
// Stopped early: unmounting ends the round's mount process; then clean up.
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    new Deno.Command("fusermount3", { args: ["-u", "-z", `${current}/mnt`], stderr: "null" }).outputSync();
    if (!keep) Deno.removeSync(dir, { recursive: true });
    Deno.exit(130);
  });
}
const t0 = performance.now();
/** A fresh store every this many rounds: verify reads the whole store after every kill. */
const ROUNDS_PER_STORE = 25;
try {
  const rng = new Rng(seed);
  const total = emptyReport();
  for (let done = 0, n = 0; done < rounds; done += ROUNDS_PER_STORE, n++) {
    const sub = `${dir}/${n}`;
    await Deno.mkdir(sub);
    current = sub;
    const r = await runCrashRounds({
      rounds: Math.min(ROUNDS_PER_STORE, rounds - done),
      rng,
      dir: sub,
      maxRoundMs: 2500,
      checkAllRevisions: false,
      log: (line) => console.log(`  store ${n} ${line}`),
    });
    addReport(total, { ...r, losses: r.losses.map((l) => `store ${n} ${l}`) });
    if (!keep) await Deno.remove(sub, { recursive: true });
  }
  const minutes = ((performance.now() - t0) / 60_000).toFixed(1);
  console.log(JSON.stringify({ seed, minutes: Number(minutes), ...total }, null, 2));
  console.log(
    `${total.kills} kill points, ${total.opsCompleted} operations, ${total.snapshotsMade} snapshots ` +
      `(${total.snapshotsUnreported} more committed but unreported), ${total.revisionChecks} revision checks, ` +
      `${total.fsyncedFilesChecked} fsync'd files checked: ${total.losses.length} losses (${minutes} min)`,
  );
  for (const l of total.losses) console.log(`LOSS ${l}`);
  if (total.losses.length > 0) Deno.exitCode = 1;
} finally {
  if (!keep) await Deno.remove(dir, { recursive: true });
}
