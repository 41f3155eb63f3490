/** POSIX details a local disk gives and programs rely on, checked through a real mount. */
import assert from "node:assert/strict";
import { tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

Deno.test("posix: an open file unlinked reports nlink 0, still reads and writes, and leaves no name", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`;
    await withMount(`${dir}/store`, mnt, async () => {
      const r = await sh(
        `printf 'kept\\n' > ${mnt}/f && exec 3>>${mnt}/f && stat -L -c %h /dev/fd/3 && rm ${mnt}/f && ` +
          // Past the attribute timeout (1 s), so the kernel asks the mount again.
          `sleep 1.2 && stat -L -c %h /dev/fd/3 && printf 'more\\n' >&3 && cat /dev/fd/3 && ls ${mnt}`,
      );
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split("\n");
      assert.equal(lines[0], "1", "nlink of a named file");
      assert.equal(lines[1], "0", "nlink of an open file after its last unlink");
      assert.match(r.stdout, /kept\nmore\n/);
      assert.doesNotMatch(r.stdout, /^f$/m, "the unlinked name is still listed");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
