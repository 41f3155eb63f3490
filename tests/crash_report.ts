/** What a run of crash rounds found: counts of what was checked, and every loss. */

export interface CrashReport {
  kills: number;
  opsCompleted: number;
  snapshotsMade: number;
  /** Snapshots whose reply the kill cut off but that were committed. */
  snapshotsUnreported: number;
  revisionChecks: number;
  fsyncedFilesChecked: number;
  /** The operation each kill interrupted, by kind. */
  interrupted: Record<string, number>;
  /** Every broken promise: a lost or wrong snapshot, an fsync'd file not as synced, a failed verify. */
  losses: string[];
}

export function emptyReport(): CrashReport {
  return {
    kills: 0,
    opsCompleted: 0,
    snapshotsMade: 0,
    snapshotsUnreported: 0,
    revisionChecks: 0,
    fsyncedFilesChecked: 0,
    interrupted: {},
    losses: [],
  };
}

/** Adds `r` into `total`. */
export function addReport(total: CrashReport, r: CrashReport): void {
  const counts = [
    "kills",
    "opsCompleted",
    "snapshotsMade",
    "snapshotsUnreported",
    "revisionChecks",
    "fsyncedFilesChecked",
  ] as const;
  for (const k of counts) total[k] += r[k];
  for (const [k, v] of Object.entries(r.interrupted)) total.interrupted[k] = (total.interrupted[k] ?? 0) + v;
  total.losses.push(...r.losses);
}
