/** POSIX details a local disk gives and programs rely on, checked through a real mount. */
import assert from "node:assert/strict";
import { runCli, tempDir } from "./helpers.ts";
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

Deno.test("posix: FIFOs, Unix sockets and device nodes are made, listed, stat'ed, renamed, removed, kept in revisions, exported and imported", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`, store = `${dir}/store`;
    // type, octal mode and device numbers as stat(1) prints them.
    const statOf = async (paths: string[]) => {
      const r = await sh(`stat -c '%n %F %a %t:%T' ${paths.join(" ")}`);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split("\n").map((l) => l.slice(l.lastIndexOf("/") + 1));
    };
    const want = [
      "blk block special file 640 8:1",
      "chr character special file 600 1:3",
      "fifo fifo 644 0:0",
      "sock socket 755 0:0",
    ];
    await withMount(store, mnt, async () => {
      const made = await sh(
        `cd ${mnt} && mkfifo -m 644 fifo && mknod -m 600 chr c 1 3 && mknod -m 640 blk b 8 1 && ` +
          `python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")' && chmod 755 sock`,
      );
      assert.equal(made.code, 0, made.stderr);
      const names = ["blk", "chr", "fifo", "sock"];
      assert.deepEqual(await statOf(names.map((n) => `${mnt}/${n}`)), want);
      // A FIFO inside the mount carries data between two processes, as any FIFO does.
      const pipe = await sh(`(echo through > ${mnt}/fifo &) && cat ${mnt}/fifo`);
      assert.equal(pipe.stdout, "through\n", pipe.stderr);
      const rev = (await runCli("snapshot", mnt)).stdout.trim();
      const moved = await sh(`mv ${mnt}/fifo ${mnt}/fifo2 && rm ${mnt}/chr && ls ${mnt}`);
      assert.equal(moved.code, 0, moved.stderr);
      assert.deepEqual(moved.stdout.trim().split("\n"), ["blk", "fifo2", "sock"]);
      assert.deepEqual(await statOf(names.map((n) => `${mnt}/.snapshots/${rev}/${n}`)), want);
    });
    // What the revision held comes out as what it was, and goes back in the same.
    const out = `${dir}/out`;
    const exported = await runCli("export", store, "1", out);
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(await statOf(["blk", "chr", "fifo", "sock"].map((n) => `${out}/${n}`)), want);
    const again = `${dir}/again`;
    const imported = await runCli("import", again, out);
    assert.equal(imported.code, 0, imported.stderr);
    const ls = await runCli("ls", again);
    // mode, then the size column (a device's major, minor) and the name.
    const rows = ls.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/)).map((c) => `${c[0]} ${c[1]} ${c[3]}`);
    assert.deepEqual(rows, [
      "brw-r----- 8, 1 blk",
      "crw------- 1, 3 chr",
      "prw-r--r-- 0 fifo",
      "srwxr-xr-x 0 sock",
    ]);
    const verify = await runCli("verify", again);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
