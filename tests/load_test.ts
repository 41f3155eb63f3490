/**
 * Load: 8 worker processes change and read their own files through one mount for 60 s
 * (REVFS_LOAD_MS) while snapshots are taken every 2-4 s. Every snapshot must be a
 * point-in-time state: a file whose last change finished before the snapshot began,
 * and whose next change started after it ended, is exactly that change's content (or
 * absent, after a delete); a file changing during the snapshot holds one of the states
 * it passed through, never a mix of two. Then the store verifies.
 */
import assert from "node:assert/strict";
import { askMount } from "../fs/control_client.ts";
import { contentOf, type LoadOp } from "./load_content.ts";
import { Rng, runCli, tempDir } from "./helpers.ts";
import { withMount } from "./mount_helpers.ts";

const WORKERS = 8;
const DURATION_MS = Number(Deno.env.get("REVFS_LOAD_MS") ?? 60_000);
/** Clock slack between processes, in ms: changes this close to a snapshot's edges count as during it. */
const SLACK = 5;
const now = () => performance.timeOrigin + performance.now();

interface Snap {
  rev: number;
  begin: number;
  end: number;
}

Deno.test("load: 8 processes for 60 s under snapshots; every snapshot is a point in time", async () => {
  const dir = await tempDir("revfs-load-");
  const store = `${dir}/store`, mnt = `${dir}/mnt`;
  const rng = new Rng(8);
  const snaps: Snap[] = [];
  let strict = 0, during = 0;
  try {
    await withMount(store, mnt, async () => {
      const workers = Array.from({ length: WORKERS }, (_, w) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("./load_worker.ts", import.meta.url).pathname,
            `${mnt}/w${w}`,
            String(w),
            String(DURATION_MS),
            `${dir}/log${w}.jsonl`,
            String(100 + w),
          ],
          stdout: "piped",
          stderr: "piped",
        }).output());
      let running = true;
      const all = Promise.all(workers).finally(() => running = false);
      while (running) {
        await new Promise((r) => setTimeout(r, 2000 + rng.int(2000)));
        // Mostly straight to the socket (a narrow window to check against), every fourth by the CLI.
        const begin = now();
        let rev: number;
        if (snaps.length % 4 === 3) {
          const r = await runCli("snapshot", store);
          assert.equal(r.code, 0, r.stderr);
          rev = Number(r.stdout);
        } else {
          const reply = await askMount(store, { op: "snapshot", message: "" });
          assert.ok(reply?.ok && "rev" in reply, JSON.stringify(reply));
          rev = reply.rev;
        }
        snaps.push({ rev, begin, end: now() });
      }
      for (const [w, out] of (await all).entries()) {
        assert.equal(out.code, 0, `worker ${w}: ${new TextDecoder().decode(out.stderr)}`);
      }
      for (let w = 0; w < WORKERS; w++) {
        const ops = Deno.readTextFileSync(`${dir}/log${w}.jsonl`).trim().split("\n").map((l) =>
          JSON.parse(l) as LoadOp
        );
        for (let f = 0; f < 10; f++) {
          const mine = ops.filter((o) => o.file === `f${f}`);
          for (const s of snaps) {
            const path = `${mnt}/.snapshots/${s.rev}/w${w}/f${f}`;
            let got: string | null = null;
            try {
              got = Deno.readTextFileSync(path);
            } catch (e) {
              if (!(e instanceof Deno.errors.NotFound)) throw e;
            }
            const before = mine.filter((o) => o.end < s.begin - SLACK).at(-1);
            const overlapping = mine.filter((o) => o.end >= s.begin - SLACK && o.start <= s.end + SLACK);
            const want = (o: LoadOp | undefined) => o && o.seq > 0 ? contentOf(w, o.seq, o.size) : null;
            if (overlapping.length === 0) {
              strict++;
              assert.equal(got, want(before), `revision ${s.rev}: ${path} is not the state before it`);
            } else {
              during++;
              // A change in flight may show as its start (truncated, partly written), never as a mix.
              const states = [before, ...overlapping].map(want);
              const ok = got === null || states.some((c) => c !== null && c.startsWith(got!)) ||
                states.includes(got);
              assert.ok(
                ok,
                `revision ${s.rev} [${s.begin}, ${s.end}]: ${path} holds a state it never had: ${
                  got?.slice(0, 20)
                } (${got?.length} bytes); ` +
                  JSON.stringify([before, ...overlapping]) + " next: " + JSON.stringify(
                    mine.filter((o) => o.start > s.end + SLACK).slice(0, 2),
                  ),
              );
            }
          }
        }
      }
    }, ["--cache-mb", "64"]);
    console.log(
      `  ${snaps.length} snapshots; ${strict} file states checked exactly, ${during} changing during a snapshot`,
    );
    assert.ok(snaps.length >= DURATION_MS / 4000 - 1, "too few snapshots");
    // That the test checks many states exactly, not only "some state it had": usually 2/3
    // are settled; one run in ~15 on these machines, with slower snapshots, had half.
    assert.ok(strict >= (strict + during) / 4, "too few file states settled at a snapshot to check exactly");
    const v = await runCli("verify", store);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
