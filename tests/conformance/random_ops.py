"""Random system calls (files, directories, renames, hard links, symlinks, FIFOs, modes,
copies, holes and user xattrs) on a small pool of names, the same sequence for a seed: one line
per call with its result (ok, or the errno's name), and at each checkpoint the whole
tree as a listing. tests/conformance_test.ts runs it on the local disk and on a revfs
mount (which snapshots at each checkpoint) and compares the lines, then compares each
snapshot with the listing taken at its checkpoint.

Usage: random_ops.py ROOT SEED CALLS CHECKPOINT_EVERY [SNAPSHOT_COMMAND...]
       random_ops.py --list DIR        (print the listing of DIR and exit)
"""
import ctypes
import errno
import hashlib
import os
import random
import stat
import subprocess
import sys

B = 65536


def listing(root):
    """Every node below root: path, type, permission bits, size and content hash (or target);
    for a node of several names, its link count and the first of its names listed."""
    out = []
    first_name = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".snapshots")
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            s = os.lstat(path)
            kind = stat.S_IFMT(s.st_mode)
            if stat.S_ISREG(kind):
                with open(path, "rb") as f:
                    what = f"file {s.st_size} {hashlib.sha256(f.read()).hexdigest()[:16]}"
            elif stat.S_ISLNK(kind):
                what = f"symlink {os.readlink(path)}"
            elif stat.S_ISDIR(kind):
                what = "dir"
            else:
                what = f"special {oct(kind)}"
            xattrs = sorted(n for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user."))
            values = [hashlib.sha256(os.getxattr(path, n, follow_symlinks=False)).hexdigest()[:8] for n in xattrs]
            line = f"{rel} {what} {oct(stat.S_IMODE(s.st_mode))}"
            if not stat.S_ISDIR(kind) and s.st_nlink > 1:
                line += f" links {s.st_nlink} ={first_name.setdefault(s.st_ino, rel)}"
            out.append(f"{line} {','.join(map(':'.join, zip(xattrs, values)))}" if xattrs else line)
    return out


if sys.argv[1] == "--list":
    print("\n".join(listing(sys.argv[2])))
    sys.exit(0)

root, seed, calls, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
snapshot = sys.argv[5:]
os.chdir(root)
rng = random.Random(seed)
NAMES = ["a", "b", "c", "d.txt", "e.bin"]
DIRS = ["", "x", "x/y", "z"]


def path():
    d = rng.choice(DIRS)
    return os.path.join(d, rng.choice(NAMES)) if d else rng.choice(NAMES)


def data(n):
    return rng.randbytes(n) if rng.random() < 0.5 else (b"line %d\n" % rng.randrange(100)) * (n // 8 + 1)


def write_at(p, off, n):
    # O_NONBLOCK: a FIFO without a reader is ENXIO, not a wait.
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o644)
    try:
        os.pwrite(fd, data(n)[:n], off)
    finally:
        os.close(fd)


def copy_range(src, dst, off_in, off_out, n):
    a = os.open(src, os.O_RDONLY | os.O_NONBLOCK)
    try:
        b = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o644)
        try:
            return os.copy_file_range(a, b, n, off_in, off_out)
        finally:
            os.close(b)
    finally:
        os.close(a)


libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def link_over(src, dst):
    # A new name for src beside dst, renamed over it: how tools replace a file with a link.
    tmp = os.path.join(os.path.dirname(dst), ".lnk")
    os.link(src, tmp, follow_symlinks=False)
    os.rename(tmp, dst)


def punch(p, off, n):
    fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
    try:
        if libc.fallocate(fd, 3, off, n) != 0:  # PUNCH_HOLE | KEEP_SIZE
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)


OPS = [
    (6, "write", lambda: write_at(path(), rng.choice([0, rng.randrange(3 * B)]), rng.choice([10, 3000, B, 2 * B + 5]))),
    (3, "truncate", lambda: os.truncate(path(), rng.choice([0, 100, B, 3 * B + 7]))),
    (3, "mkdir", lambda: os.mkdir(rng.choice(DIRS[1:]) if rng.random() < 0.6 else path())),
    (2, "rmdir", lambda: os.rmdir(rng.choice(DIRS[1:]) if rng.random() < 0.6 else path())),
    (3, "unlink", lambda: os.unlink(path())),
    (4, "rename", lambda: os.rename(rng.choice([path(), rng.choice(DIRS[1:])]), rng.choice([path(), rng.choice(DIRS[1:])]))),
    (1, "symlink", lambda: os.symlink(rng.choice(NAMES), path())),
    (2, "link", lambda: os.link(path(), path(), follow_symlinks=rng.random() < 0.5)),
    (3, "link over", lambda: link_over(path(), path())),
    (1, "mkfifo", lambda: os.mkfifo(path(), 0o640)),
    (2, "chmod", lambda: os.chmod(path(), rng.choice([0o600, 0o644, 0o755, 0o4711]))),
    (2, "copy_file_range", lambda: copy_range(path(), path(), rng.choice([0, B, 100]), rng.choice([0, B, 2 * B, 7]), rng.choice([B, 3 * B, 500]))),
    (1, "fallocate punch", lambda: punch(path(), rng.choice([0, 100, B]), rng.choice([50, B, 2 * B + 3]))),
    (2, "setxattr", lambda: os.setxattr(path(), rng.choice(["user.a", "user.b"]), rng.randbytes(rng.randrange(0, 40)), follow_symlinks=False)),
    (1, "removexattr", lambda: os.removexattr(path(), rng.choice(["user.a", "user.b"]), follow_symlinks=False)),
]
weights = [w for w, _, _ in OPS]
for i in range(calls):
    _, name, fn = rng.choices(OPS, weights)[0]
    try:
        r = fn()
        print(f"{i} {name}: {'ok' if r is None else r}")
    except OSError as e:
        print(f"{i} {name}: {errno.errorcode.get(e.errno, e.errno)}")
    if (i + 1) % every == 0:
        print(f"# checkpoint {(i + 1) // every}")
        print("\n".join(listing(".")))
        if snapshot:
            subprocess.run(snapshot, check=True, stdout=subprocess.DEVNULL)
