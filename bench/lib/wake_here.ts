/**
 * The FUSE module's `wake_here` parameter on these machines' kernel: with `Y`, a FUSE
 * reply does not pay the wake-up of an idle CPU that makes small requests dear here, and
 * bindfs then answers them faster than with `N` (the default as found; docs/BENCHMARKS.md,
 * "A kernel knob that takes the wake-up cost away"). The benchmark measures as found and,
 * where it may write the parameter, its small-request workloads again with the other
 * setting, then puts it back, also when interrupted.
 */
import { kernelWakeHere, WAKE_HERE_PARAM as PARAM } from "../../fs/fuse/request_wait.ts";

export type WakeHere = "Y" | "N";

/** What the kernel had before the benchmark changed it; undefined while unchanged. */
let changedFrom: WakeHere | undefined;

/** The setting now; undefined when this kernel has no such parameter. */
function wakeHere(): WakeHere | undefined {
  const v = kernelWakeHere();
  return v === "Y" || v === "N" ? v : undefined;
}

/** The setting found, and the other one to measure with; undefined when it cannot be set. */
export async function wakeHereSettings(): Promise<{ asFound: WakeHere; other: WakeHere } | undefined> {
  const asFound = wakeHere();
  if (asFound === undefined) return undefined;
  try {
    await Deno.writeTextFile(PARAM, asFound); // unchanged: only asks whether we may write it
  } catch {
    return undefined;
  }
  return { asFound, other: asFound === "Y" ? "N" : "Y" };
}

/** Runs `fn` with the parameter set to `setting`, and puts the old one back. */
export async function withWakeHere<T>(setting: WakeHere, fn: () => Promise<T>): Promise<T> {
  const before = wakeHere();
  if (before === undefined) throw new Error(`${PARAM} is missing`);
  changedFrom ??= before;
  await Deno.writeTextFile(PARAM, setting);
  try {
    return await fn();
  } finally {
    await restoreWakeHere();
  }
}

/** Puts the parameter back as the benchmark found it (for a benchmark stopped by a signal too). */
export async function restoreWakeHere(): Promise<void> {
  if (changedFrom === undefined) return;
  await Deno.writeTextFile(PARAM, changedFrom);
  changedFrom = undefined;
}
