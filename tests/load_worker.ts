/**
 * One worker of tests/load_test.ts: for DURATION ms, changes its own files in DIR
 * (replace in place, replace through a renamed temporary, delete) and reads them back,
 * and appends one JSON line per change to LOG: file, seq (0 = deleted), size, and the
 * wall-clock start and end of the change in ms.
 *
 *   deno run -A tests/load_worker.ts DIR WORKER DURATION_MS LOG SEED
 */
import { contentOf, type LoadOp } from "./load_content.ts";
import { Rng } from "./helpers.ts";

const [dir, worker, duration, logPath, seed] = Deno.args;
const w = Number(worker);
const rng = new Rng(Number(seed));
const now = () => performance.timeOrigin + performance.now();
const FILES = 10;
const state = new Map<string, { seq: number; size: number }>();
const log: LoadOp[] = [];
const stopAt = now() + Number(duration);
let seq = 1;
let reads = 0;

await Deno.mkdir(dir, { recursive: true });
while (now() < stopAt) {
  // A little think time, as real programs have, so most files are at rest at a snapshot.
  if (rng.chance(0.5)) await new Promise((r) => setTimeout(r, rng.int(20)));
  const file = `f${rng.int(FILES)}`;
  const path = `${dir}/${file}`;
  const r = rng.next();
  if (r < 0.25) {
    const cur = state.get(file);
    if (cur) {
      const got = await Deno.readTextFile(path);
      if (got !== contentOf(w, cur.seq, cur.size)) throw new Error(`worker ${w}: ${file} reads wrong`);
      reads++;
    }
    continue;
  }
  const op: LoadOp = { file, seq: 0, size: 0, start: now(), end: 0 };
  if (r < 0.35) {
    if (!state.has(file)) continue;
    await Deno.remove(path);
    state.delete(file);
  } else {
    op.seq = seq++;
    op.size = 1 + rng.int(rng.chance(0.8) ? 20_000 : 300_000);
    const data = contentOf(w, op.seq, op.size);
    if (r < 0.7) await Deno.writeTextFile(path, data);
    else {
      await Deno.writeTextFile(`${dir}/.tmp-${file}`, data);
      await Deno.rename(`${dir}/.tmp-${file}`, path);
    }
    state.set(file, { seq: op.seq, size: op.size });
  }
  op.end = now();
  log.push(op);
}
await Deno.writeTextFile(logPath, log.map((o) => JSON.stringify(o)).join("\n") + "\n");
console.log(JSON.stringify({ worker: w, changes: log.length, reads }));
