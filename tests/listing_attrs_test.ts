/**
 * Files' attributes in readdirplus replies, chosen per program (fs/fuse/listing_attrs.ts):
 * the rule on its own, then through a real mount: `find` walks a tree without a lookup
 * per file, a `find` that prints what stat gives is learned from within its first
 * directory, and every attribute it prints is the one a plain directory gives.
 */
import assert from "node:assert/strict";
import { ListingAttrs } from "../fs/fuse/listing_attrs.ts";
import { mountTestDir, sh, withMount } from "./mount_helpers.ts";
import { Rng } from "./helpers.ts";

const DIR = 1, OTHER = 2;

Deno.test("listing attrs: a program gets files' attributes once it looks up what it was listed", () => {
  const names: Record<number, string> = { 10: "ls", 11: "ls", 20: "find" };
  const attrs = new ListingAttrs((tid) => names[tid]);
  assert.equal(attrs.filesWanted(10, DIR), false, "an unknown program is listed without");
  attrs.lookedUp(10, OTHER);
  attrs.lookedUp(10, OTHER);
  assert.equal(attrs.filesWanted(10, DIR), false, "lookups elsewhere teach nothing");
  attrs.lookedUp(10, DIR);
  assert.equal(attrs.filesWanted(10, DIR), false, "one lookup is not enough");
  attrs.lookedUp(10, DIR);
  assert.equal(attrs.filesWanted(10, OTHER), true, "two lookups in a directory it was listed");
  assert.equal(attrs.filesWanted(11, DIR), true, "another thread of the same program");
  assert.equal(attrs.filesWanted(20, DIR), false, "another program still without");
});

Deno.test("listing attrs: the kernel's own requests and threads that are gone get attributes", () => {
  const attrs = new ListingAttrs(() => undefined);
  assert.equal(attrs.filesWanted(0, DIR), true);
  assert.equal(attrs.filesWanted(1234, DIR), true);
});

Deno.test("listing attrs: only the last few directories a thread was listed count", () => {
  const attrs = new ListingAttrs(() => "walker");
  for (let dir = 100; dir < 110; dir++) attrs.filesWanted(7, dir);
  attrs.lookedUp(7, 100);
  attrs.lookedUp(7, 101);
  assert.equal(attrs.filesWanted(7, 200), false, "lookups in directories listed long ago");
  attrs.lookedUp(7, 109);
  attrs.lookedUp(7, 108);
  assert.equal(attrs.filesWanted(7, 200), true);
});

Deno.test("listing attrs: find walks a mount without a lookup per file; a stat-ing find learns and sees every attribute", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-listattrs-");
  try {
    const rng = new Rng(17);
    const ref = `${dir}/ref`;
    const dirs = ["a", "b", "c", "c/d", "c/d/e"];
    let files = 0;
    await withMount(store, mnt, async () => {
      for (const root of [`${mnt}/t`, ref]) {
        for (const d of dirs) await Deno.mkdir(`${root}/${d}`, { recursive: true });
      }
      for (const d of dirs) {
        for (let i = 0; i < 30; i++, files++) {
          const data = rng.bytes(rng.int(3000));
          const mode = [0o644, 0o600, 0o755][rng.int(3)];
          for (const root of [`${mnt}/t`, ref]) {
            await Deno.writeFile(`${root}/${d}/f${i}`, data);
            await Deno.chmod(`${root}/${d}/f${i}`, mode);
          }
        }
      }
    });

    const lookupsOf = async (file: string) => {
      const ops = JSON.parse(await Deno.readTextFile(file)) as { op: string; count: number }[];
      return ops.find((o) => o.op === "lookup")?.count ?? 0;
    };
    const walk = `${dir}/walk.json`;
    await withMount(
      store,
      mnt,
      async () => {
        const f = await sh(`cd ${mnt}/t && find . | sort`);
        assert.equal(f.code, 0, f.stderr);
        const expected = await sh(`cd ${ref} && find . | sort`);
        assert.equal(f.stdout, expected.stdout);
        // Another program then finds no file the walk was listed: each is looked up.
        const st = await sh(`cd ${mnt}/t && stat -c %s a/f0 b/f1 c/f2 c/d/f3 c/d/e/f4`);
        assert.equal(st.code, 0, st.stderr);
      },
      [],
      { REVFS_OP_TIMES: walk },
    );
    // The walk's start ("t") and stat's five files; directories came with their attributes.
    const walked = await lookupsOf(walk);
    assert.ok(walked >= 5 && walked <= 7, `${walked} lookups for a find of ${files} files and 5 stats`);

    const printed = `${dir}/printed.json`;
    const format = "%P %y %m %s %n %U %G\\n";
    await withMount(
      store,
      mnt,
      async () => {
        const f = await sh(`cd ${mnt}/t && find . -printf '${format}' | sort`);
        assert.equal(f.code, 0, f.stderr);
        const expected = await sh(`cd ${ref} && find . -printf '${format}' | sort`);
        assert.equal(f.stdout, expected.stdout);
      },
      [],
      { REVFS_OP_TIMES: printed },
    );
    // Its first directory's files are looked up (they were listed without attributes);
    // from then on listings carry them.
    const n = await lookupsOf(printed);
    assert.ok(n >= 2 && n <= 30 + 3, `${n} lookups for a stat-ing find of ${files} files`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
