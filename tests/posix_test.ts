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

/** System calls on extended attributes, as Python makes them; prints one line per result. */
const XATTR_CALLS = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def err(f):
    try:
        f(); return "ok"
    except OSError as e:
        return "errno %d" % e.errno
os.chdir(sys.argv[1])
os.setxattr("f", "user.color", b"blue")
os.setxattr("f", "user.empty", b"")
os.setxattr("d", "user.tag", bytes([0, 1, 255]))
os.setxattr("d", "trusted.root", b"only root")
print(sorted(os.listxattr("f")), os.getxattr("f", "user.color"), os.getxattr("d", "user.tag"))
print("create existing:", err(lambda: os.setxattr("f", "user.color", b"x", os.XATTR_CREATE)))
print("replace missing:", err(lambda: os.setxattr("f", "user.new", b"x", os.XATTR_REPLACE)))
print("get missing:", err(lambda: os.getxattr("f", "user.new")))
print("remove missing:", err(lambda: os.removexattr("f", "user.new")))
print("too big:", err(lambda: os.setxattr("f", "user.big", b"x" * 70000)))
buf = ctypes.create_string_buffer(2)
print("small buffer:", libc.getxattr(b"f", b"user.color", buf, 2), ctypes.get_errno())
print("size query:", libc.getxattr(b"f", b"user.color", None, 0))
os.setxattr("f", "user.color", b"red", os.XATTR_REPLACE)
# POSIX ACLs (as the kernel encodes them): a named user on f, a default ACL on d.
import struct
def acl(*entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in entries)
N = 0xFFFFFFFF
os.setxattr("f", "system.posix_acl_access", acl((1, 6, N), (2, 5, 1000), (4, 4, N), (0x10, 5, N), (0x20, 4, N)))
os.setxattr("d", "system.posix_acl_default", acl((1, 7, N), (2, 7, 1000), (4, 5, N), (0x10, 7, N), (0x20, 0, N)))
print("mode with an ACL:", oct(os.stat("f").st_mode))
`;

Deno.test("posix: extended attributes are set, read, listed and removed as Linux does, and kept per revision, exported and imported", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`, store = `${dir}/store`;
    const script = `${dir}/xattrs.py`;
    await Deno.writeTextFile(script, XATTR_CALLS);
    const expected = [
      "['user.color', 'user.empty'] b'blue' b'\\x00\\x01\\xff'",
      "create existing: errno 17",
      "replace missing: errno 61",
      "get missing: errno 61",
      "remove missing: errno 61",
      "too big: errno 7",
      "small buffer: -1 34",
      "size query: 4",
      "mode with an ACL: 0o100654",
    ];
    // The same calls on the local disk give the same answers: the reference.
    const local = `${dir}/local`;
    await Deno.mkdir(`${local}/d`, { recursive: true });
    await Deno.writeTextFile(`${local}/f`, "hi\n");
    const onDisk = await sh(`python3 ${script} ${local}`);
    assert.equal(onDisk.code, 0, onDisk.stderr);
    assert.deepEqual(onDisk.stdout.trim().split("\n"), expected, "the local disk's answers");
    await withMount(store, mnt, async () => {
      await Deno.mkdir(`${mnt}/d`);
      await Deno.writeTextFile(`${mnt}/f`, "hi\n");
      const r = await sh(`python3 ${script} ${mnt}`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), expected);
      assert.equal((await runCli("snapshot", mnt)).stdout.trim(), "1");
      const after = await sh(
        `cd ${mnt} && python3 -c 'import os; os.removexattr("f", "user.color"); ` +
          `acl = "system.posix_acl_access"; os.removexattr("f", acl); ` +
          `print(sorted(os.listxattr("f")), os.getxattr(".snapshots/1/f", "user.color"), ` +
          `sorted(os.listxattr(".snapshots/1/d")), len(os.getxattr(".snapshots/1/f", acl)))'`,
      );
      assert.equal(
        after.stdout.trim(),
        "['user.empty'] b'red' ['system.posix_acl_default', 'trusted.root', 'user.tag'] 44",
        after.stderr,
      );
      const ro = await sh(`python3 -c 'import os; os.setxattr("${mnt}/.snapshots/1/f", "user.x", b"1")'`);
      assert.match(ro.stderr, /Read-only file system/);
    }, ["--xattrs"]);
    const out = `${dir}/out`;
    assert.equal((await runCli("export", store, "1", out)).code, 0);
    const read = async (root: string) =>
      (await sh(
        `cd ${root} && python3 -c 'import os; print(oct(os.stat("f").st_mode), ` +
          `[(p, n, os.getxattr(p, n)) for p in ("d", "f") for n in sorted(os.listxattr(p))])'`,
      )).stdout.trim();
    // Revision 1 held what the local disk holds now: ACLs and the mode they set included.
    const want = await read(local);
    assert.match(
      want,
      /0o100654 .*'d', 'system.posix_acl_default'.*'f', 'system.posix_acl_access'.*'user.color', b'red'/,
    );
    assert.equal(await read(out), want, "export");
    const again = `${dir}/again`, back = `${dir}/back`;
    assert.equal((await runCli("import", again, out)).code, 0);
    assert.equal((await runCli("export", again, "1", back)).code, 0);
    assert.equal(await read(back), want, "import, then export");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** fallocate(2) at random: each call's result, the size, and whether the bytes match a model. */
const FALLOCATE_CALLS = `
import ctypes, hashlib, os, random, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP, PUNCH = 1, 2
os.chdir(sys.argv[1])
rng = random.Random(5)
B = 65536
data = bytearray(rng.randbytes(6 * B + 777))
fd = os.open("f", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, data)
def fa(mode, off, n):
    r = libc.fallocate(fd, mode, off, n)
    return "ok" if r == 0 else "errno %d" % ctypes.get_errno()
for i in range(40):
    off = rng.choice([rng.randrange(0, 8 * B), rng.randrange(0, 8) * B])
    n = rng.choice([rng.randrange(1, 3 * B), rng.randrange(1, 4) * B])
    mode = rng.choice([0, KEEP, PUNCH | KEEP, PUNCH | KEEP])
    r = fa(mode, off, n)
    if r == "ok":
        if mode == 0 and off + n > len(data): data += bytes(off + n - len(data))
        if mode & PUNCH:
            end = min(off + n, len(data))
            if end > off: data[off:end] = bytes(end - off)
    got = os.pread(fd, len(data) + 10, 0)
    print(i, mode, off, n, r, os.fstat(fd).st_size, "same" if got == bytes(data) else "DIFFERENT")
print("punch without KEEP_SIZE:", fa(PUNCH, 0, 10))
`;

Deno.test("posix: fallocate grows files and punches holes exactly as the local disk does", async () => {
  const dir = await tempDir();
  try {
    const script = `${dir}/fallocate.py`;
    await Deno.writeTextFile(script, FALLOCATE_CALLS);
    await Deno.mkdir(`${dir}/local`);
    const local = await sh(`python3 ${script} ${dir}/local`);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(
      local.stdout.split("\n").filter((l) => l.endsWith(" same")).length,
      40,
      "the model is the local disk's",
    );
    await withMount(`${dir}/store`, `${dir}/mnt`, async () => {
      const r = await sh(`python3 ${script} ${dir}/mnt`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.split("\n"), local.stdout.split("\n"));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** SEEK_DATA/SEEK_HOLE answers, as "label: offset" lines (B = 64 KiB, the block size). */
const SEEK_CALLS = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
os.chdir(sys.argv[1])
B = 65536
def seeks(label, path):
    fd = os.open(path, os.O_RDONLY)
    try:
        at = []
        for off, whence in [(0, os.SEEK_DATA), (4 * B, os.SEEK_HOLE), (5 * B, os.SEEK_DATA)]:
            try:
                at.append(str(os.lseek(fd, off, whence) // B))
            except OSError as e:
                at.append("ENXIO" if e.errno == 6 else str(e))
        print(label + ":", " ".join(at))
    finally:
        os.close(fd)
if sys.argv[2] == "write":
    fd = os.open("sparse", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, 16 * B)
    os.pwrite(fd, b"d" * B, 4 * B)
    os.pwrite(fd, b"e" * B, 10 * B)
    seeks("open for writing, not flushed", "sparse")
    os.close(fd)
    seeks("closed", "sparse")
else:
    fd = os.open("sparse", os.O_RDWR)
    libc.fallocate(fd, 3, 4 * B, B)
    os.close(fd)
    seeks("first block punched", "sparse")
    seeks("revision 1", ".snapshots/1/sparse")
    print(open("sparse", "rb").read() == bytes(10 * B) + b"e" * B + bytes(5 * B))
`;

Deno.test("posix: SEEK_DATA/SEEK_HOLE find the holes a file has, in the head and in revisions, and none the kernel may still hold data for", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`;
    const script = `${dir}/seek.py`;
    await Deno.writeTextFile(script, SEEK_CALLS);
    await withMount(`${dir}/store`, mnt, async () => {
      const first = await sh(`python3 ${script} ${mnt} write`);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(first.stdout.trim().split("\n"), [
        // The writes may still be in the kernel's cache: all of it is data, no hole before its end.
        "open for writing, not flushed: 0 16 5",
        "closed: 4 5 10",
      ]);
      assert.equal((await runCli("snapshot", mnt)).stdout.trim(), "1");
      const then = await sh(`python3 ${script} ${mnt} punch`);
      assert.equal(then.code, 0, then.stderr);
      assert.deepEqual(then.stdout.trim().split("\n"), ["first block punched: 10 4 10", "revision 1: 4 5 10", "True"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("posix: the times stat shows are the ones a remount shows, to the nanosecond (git status compares them)", async () => {
  const dir = await tempDir();
  try {
    const mnt = `${dir}/mnt`, store = `${dir}/store`, src = `${dir}/src`;
    await Deno.mkdir(`${src}/sub`, { recursive: true });
    for (let i = 0; i < 8; i++) {
      await Deno.writeTextFile(`${src}/${i < 4 ? "" : "sub/"}f${i}`, `file ${i}\n`.repeat(i + 1));
    }
    const r0 = await sh(`touch -d '2020-01-01 10:00:00.123456789' ${src}/f* ${src}/sub/f*`);
    assert.equal(r0.code, 0, r0.stderr);
    const statAll = async () => {
      const r = await sh(`cd ${mnt} && stat -c '%n %y %z %s %i %a' c/f* c/sub/f* c/sub`);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    // cp -a writes each file, then sets its owner, mode and times: the kernel's writeback
    // cache keeps times of its own and sends them after the writes.
    const before = await withMount(store, mnt, async () => {
      const r = await sh(
        `cp -a ${src} ${mnt}/c && echo more >> ${mnt}/c/f1 && chmod 600 ${mnt}/c/f2 && touch ${mnt}/c/sub/f5 && ` +
          `printf 'x' | dd of=${mnt}/c/f3 bs=1 seek=3 conv=notrunc status=none && ln ${mnt}/c/f0 ${mnt}/c/sub/f0link && ` +
          `echo again >> ${mnt}/c/sub/f6 && mv ${mnt}/c/sub/f6 ${mnt}/c/sub/f6moved`,
      );
      assert.equal(r.code, 0, r.stderr);
      return await statAll();
    });
    assert.match(before, /c\/f0 2020-01-01 10:00:00\.123456789 /, "cp -a keeps the mtime");
    const after = await withMount(store, mnt, statAll);
    assert.equal(after, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
