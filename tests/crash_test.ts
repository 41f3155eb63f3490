/**
 * A short run of the crash test (tests/crash_harness.ts): the mount is SIGKILLed at
 * random moments under a write/fsync/snapshot workload; every reported snapshot and
 * every fsync'd file must survive exactly. `deno task soak` runs hundreds of rounds.
 */
import assert from "node:assert/strict";
import { Rng, tempDir } from "./helpers.ts";
import { runCrashRounds } from "./crash_harness.ts";

Deno.test("crash: SIGKILL of the mount loses no reported snapshot and no fsync'd byte", async () => {
  const dir = await tempDir("revfs-crash-");
  try {
    const report = await runCrashRounds({
      rounds: 6,
      rng: new Rng(Number(Deno.env.get("REVFS_CRASH_SEED") ?? 20261121)),
      dir,
      maxRoundMs: 1500,
      checkAllRevisions: true,
    });
    console.log(`  ${JSON.stringify({ ...report, losses: report.losses.length })}`);
    assert.deepEqual(report.losses, []);
    assert.equal(report.kills, 6);
    assert.ok(report.snapshotsMade > 0 && report.revisionChecks >= report.snapshotsMade, "no snapshot was checked");
    assert.ok(report.fsyncedFilesChecked > 0, "no fsync'd file was checked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
