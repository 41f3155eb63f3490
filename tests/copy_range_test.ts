/**
 * copy_file_range(2) through a mount: whole blocks are shared, not copied, so `cp` of
 * a large file inside the mount (or out of `.snapshots` into the head) stores nothing
 * new; random copies, aligned or not, give exactly what the local disk gives, and a
 * copy does not change when its source is written afterwards.
 */
import assert from "node:assert/strict";
import { runCli, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

/** Random copies between two files, then the source overwritten; prints each file's SHA-256. */
const COPIES = `
import hashlib, os, random, sys
os.chdir(sys.argv[1])
rng = random.Random(7)
B = 65536
src = rng.randbytes(10 * B + 123)
with open("a", "wb") as f: f.write(src)
with open("b", "wb") as f: f.write(b"z" * (4 * B))
a = os.open("a", os.O_RDWR)
b = os.open("b", os.O_RDWR)
for i in range(60):
    off_in = rng.choice([rng.randrange(0, 11 * B), rng.randrange(0, 11) * B])
    off_out = off_in + rng.choice([0, B, -B, 2 * B]) if rng.random() < 0.6 else rng.randrange(0, 12 * B)
    off_out = max(0, off_out)
    n = rng.choice([rng.randrange(1, 3 * B), rng.randrange(1, 5) * B])
    print(i, os.copy_file_range(a, b, n, off_in, off_out))
# The copy keeps what it copied when its source changes.
os.pwrite(a, b"after" * 1000, 2 * B)
os.close(a)
os.close(b)
for name in ("a", "b"):
    print(name, hashlib.sha256(open(name, "rb").read()).hexdigest())
`;

Deno.test("copy_file_range: copies share blocks, store nothing new, and match the local disk", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`, local = `${dir}/local`, script = `${dir}/copies.py`;
    await Deno.writeTextFile(script, COPIES);
    await Deno.mkdir(local);
    const want = await sh(`python3 ${script} ${local}`);
    assert.equal(want.code, 0, want.stderr);
    await withMount(`${dir}/store`, mnt, async () => {
      await Deno.mkdir(`${mnt}/random`);
      const got = await sh(`python3 ${script} ${mnt}/random`);
      assert.equal(got.code, 0, got.stderr);
      assert.deepEqual(got.stdout.split("\n"), want.stdout.split("\n"), "the same results as on the local disk");

      const stats = async () => JSON.parse((await runCli("stats", mnt, "--json")).stdout);
      const stored = async () => (await stats()).storedBytes as number;
      // Blocks the mount's page cache wrote to the store: a copy that moved bytes writes them all.
      const writtenOut = async () => (await stats()).mount.cache.blocksWrittenOut as number;
      const made = await sh(`head -c ${64 << 20} /dev/urandom > ${mnt}/big && sync && sha256sum < ${mnt}/big`);
      assert.equal(made.code, 0, made.stderr);
      assert.equal((await runCli("snapshot", mnt)).code, 0);
      const before = await stored(), writtenBefore = await writtenOut();
      const copied = await sh(
        `cp ${mnt}/big ${mnt}/copy && cp ${mnt}/.snapshots/1/big ${mnt}/from-history && sync && ` +
          `sha256sum < ${mnt}/copy && sha256sum < ${mnt}/from-history`,
      );
      assert.equal(copied.code, 0, copied.stderr);
      assert.deepEqual(copied.stdout.trim().split("\n"), [made.stdout.trim(), made.stdout.trim()]);
      // The blocks are shared: two more 64 MiB files, not one block more, and (unlike a
      // byte copy, which dedup would also store nothing for) not one block written.
      assert.equal(await stored(), before, "a copy inside the mount stored blocks");
      // A snapshot writes out whatever the copies left in the page cache.
      assert.equal((await runCli("snapshot", mnt)).code, 0);
      const written = await writtenOut() - writtenBefore;
      assert.ok(written <= 4, `the copies wrote ${written} blocks: bytes were copied, not blocks shared`);
    });
    const verify = await runCli("verify", `${dir}/store`);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
