/**
 * The struct layouts the FUSE binding uses by offset must be the installed headers'
 * ones: compile fs/fuse/layout_probe.c against libfuse3-dev and compare every value.
 */
import assert from "node:assert/strict";
import { LAYOUT } from "../fs/fuse/layout.ts";
import { tempDir } from "./helpers.ts";

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
