/**
 * Reading history as fast as the head: one file, half random and half text, read cold
 * from the head and from `.snapshots/N` of the snapshot just taken (the same blocks,
 * stored whole), alternating, in a store of its own. revfs only: the peers in the file
 * I/O table have no mount of their history.
 */
import { writeSeqSource } from "./fileio.ts";
import { RevfsTarget } from "./lib/mounts.ts";
import { dropCaches, run } from "./lib/run.ts";
import { type Sample, sample } from "./lib/stats.ts";

export interface HistoryReadResult {
  bytes: number;
  /** MB/s, cold, the head's file and the snapshot's. */
  head: Sample;
  snapshot: Sample;
  /** Snapshot median / head median. */
  ratio: number;
}

export async function historyReads(
  work: string,
  bytes: number,
  reps: number,
  log: (s: string) => void,
): Promise<HistoryReadResult> {
  await Deno.mkdir(work, { recursive: true });
  const source = `${work}/source.bin`;
  await writeSeqSource(source, bytes, 300);
  const t = await RevfsTarget.start(`${work}/store`, `${work}/mnt`);
  try {
    await run("dd", [`if=${source}`, `of=${t.dir}/file.bin`, "bs=1M", "conv=fsync"]);
    const { rev } = await t.snapshot("history reads");
    const runs = { head: [] as number[], snapshot: [] as number[] };
    const paths = { head: `${t.dir}/file.bin`, snapshot: `${t.dir}/.snapshots/${rev}/file.bin` };
    for (let r = 0; r < reps; r++) {
      log(`  history reads rep ${r + 1}/${reps}`);
      // Alternating which goes first, so neither always follows the other.
      for (const which of r % 2 === 0 ? ["head", "snapshot"] as const : ["snapshot", "head"] as const) {
        await t.remount();
        await dropCaches();
        const d = await run("dd", [`if=${paths[which]}`, "of=/dev/null", "bs=1M"]);
        runs[which].push(bytes / 1e6 / (d.ms / 1000));
      }
    }
    const head = sample(runs.head), snapshot = sample(runs.snapshot);
    return { bytes, head, snapshot, ratio: snapshot.median / head.median };
  } finally {
    await t.stop();
    await Deno.remove(work, { recursive: true });
  }
}
