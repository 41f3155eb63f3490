/**
 * The struct layouts the FUSE binding uses by offset must be the installed headers'
 * ones: compile fs/fuse/layout_probe.c against libfuse3-dev and compare every value.
 * And a time in ns splits into a timespec as BigInt division splits it.
 */
import assert from "node:assert/strict";
import { LAYOUT } from "../fs/fuse/layout.ts";
import { secondsOf } from "../fs/fuse/structs.ts";
import { Rng, tempDir } from "./helpers.ts";

Deno.test("fuse: every struct offset and constant in layout.ts matches the installed libfuse3 headers", async () => {
  const dir = await tempDir();
  try {
    const probe = new URL("../fs/fuse/layout_probe.c", import.meta.url).pathname;
    const cc = await new Deno.Command("gcc", {
      args: ["-Wall", "-Werror", "-I/usr/include/fuse3", probe, "-o", `${dir}/probe`],
      stderr: "piped",
    }).output();
    assert.equal(
      cc.code,
      0,
      `compiling the layout probe failed (is libfuse3-dev installed?):\n${new TextDecoder().decode(cc.stderr)}`,
    );
    const out = await new Deno.Command(`${dir}/probe`, { stdout: "piped" }).output();
    const fromHeaders = new Map(
      new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => {
        const [k, v] = l.split(" ");
        return [k, Number(v)] as const;
      }),
    );
    const mine = new Map(Object.entries(LAYOUT));
    assert.deepEqual(
      [...mine.keys()].sort(),
      [...fromHeaders.keys()].sort(),
      "layout.ts and the probe name different fields",
    );
    for (const [k, v] of fromHeaders) assert.equal(mine.get(k), v, k);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fuse: a time in ns splits into seconds and nanoseconds as BigInt division does, also before 1970", () => {
  const reference = (ns: bigint): [number, number] => {
    let sec = ns / 1_000_000_000n, nsec = ns % 1_000_000_000n;
    if (nsec < 0n) [sec, nsec] = [sec - 1n, nsec + 1_000_000_000n];
    return [Number(sec), Number(nsec)];
  };
  const rng = new Rng(90);
  const times = [0n, 1n, -1n, 999_999_999n, 1_000_000_000n, -1_000_000_000n, 2n ** 32n - 1n, 2n ** 32n];
  times.push(2n ** 48n + 7n, 2n ** 63n - 2n, 2n ** 63n - 1n, -(2n ** 63n), 1_764_700_000_123_456_789n);
  for (let i = 0; i < 5000; i++) {
    const v = BigInt(rng.int(2 ** 31)) * 2n ** 32n + BigInt(rng.int(2 ** 32));
    times.push(v, -v);
  }
  for (const ns of times) assert.deepEqual(secondsOf(ns), reference(ns), `${ns} ns`);
});
