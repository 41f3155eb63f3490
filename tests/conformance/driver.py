"""The same system calls, in order, in the directory given: one line per call, with
its result (ok, a value, or the errno's name) and, for calls that make or change a
node, the stat fields a program sees. tests/conformance_test.ts runs it on the local
disk and on a revfs mount and compares the lines.

Usage: driver.py ROOT [GROUP ...]   (groups: see GROUPS; default all)
"""
import ctypes
import errno
import os
import random
import stat
import struct
import sys

ROOT = sys.argv[1]
os.chdir(ROOT)
LONG = "n" * 256
out = []


def run(label, fn):
    try:
        r = fn()
        out.append(f"{label}: {'ok' if r is None else r}")
    except OSError as e:
        out.append(f"{label}: {errno.errorcode.get(e.errno, e.errno)}")


def st(path):
    """What a program sees of a node (times are left out: they differ by when)."""
    s = os.lstat(path)
    kind = stat.S_IFMT(s.st_mode)
    size = s.st_size if stat.S_ISREG(kind) or stat.S_ISLNK(kind) else "-"
    return f"mode={oct(s.st_mode)} nlink={s.st_nlink} size={size} rdev={s.st_rdev} uid={s.st_uid} gid={s.st_gid}"


libc = ctypes.CDLL(None, use_errno=True)
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime):
    times = (Timespec * 2)(Timespec(*atime), Timespec(*mtime))
    if libc.utimensat(AT_FDCWD, path.encode(), times, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def read_then_atime(path):
    with open(path, "rb") as f:
        f.read()
    return os.stat(path).st_atime_ns


def write(path, data=b"x"):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)


def names():
    run("mkdir long name", lambda: os.mkdir(LONG))
    run("create long name", lambda: write(LONG))
    run("stat long name", lambda: os.stat(LONG))
    run("unlink long name", lambda: os.unlink(LONG))
    run("rmdir long name", lambda: os.rmdir(LONG))
    run("chmod long name", lambda: os.chmod(LONG, 0o600))
    run("rename to long name", lambda: (write("short"), os.rename("short", LONG)))
    run("unlink short", lambda: os.unlink("short"))
    run("symlink long name", lambda: os.symlink("x", LONG))
    run("path over PATH_MAX", lambda: os.stat("a/" * 2100))
    run("name of 255 bytes", lambda: (write("m" * 255), st("m" * 255)))


def dirs():
    run("mkdir d", lambda: (os.mkdir("d"), st("d")))
    run("mkdir d again", lambda: os.mkdir("d"))
    run("mkdir d/e", lambda: os.mkdir("d/e"))
    run("nlink of d with a subdir", lambda: st("d"))
    run("create d/f", lambda: write("d/f"))
    run("rmdir d (not empty)", lambda: os.rmdir("d"))
    run("rmdir d/f (a file)", lambda: os.rmdir("d/f"))
    run("unlink d (a dir)", lambda: os.unlink("d"))
    run("open d for writing", lambda: os.open("d", os.O_WRONLY))
    run("open d/f/x (a file in the path)", lambda: os.open("d/f/x", os.O_RDONLY))
    run("mkdir d/f/x", lambda: os.mkdir("d/f/x"))
    run("create d/f/", lambda: os.open("d/f/", os.O_WRONLY | os.O_CREAT, 0o644))
    run("open missing", lambda: os.open("missing", os.O_RDONLY))
    run("O_CREAT|O_EXCL on d/f", lambda: os.open("d/f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    run("O_DIRECTORY on d/f", lambda: os.open("d/f", os.O_RDONLY | os.O_DIRECTORY))
    run("truncate d", lambda: os.truncate("d", 0))
    run("rmdir d/e", lambda: os.rmdir("d/e"))
    run("nlink of d without subdirs", lambda: st("d"))
    run("rmdir .", lambda: os.rmdir("."))
    run("readlink d/f (not a link)", lambda: os.readlink("d/f"))


def renames():
    os.mkdir("r")
    os.mkdir("r/a")
    os.mkdir("r/a/sub")
    os.mkdir("r/full")
    write("r/full/x")
    os.mkdir("r/empty")
    write("r/file")
    run("rename dir over file", lambda: os.rename("r/a", "r/file"))
    run("rename file over dir", lambda: os.rename("r/file", "r/empty"))
    run("rename dir into itself", lambda: os.rename("r/a", "r/a/sub/in"))
    run("rename dir over non-empty dir", lambda: os.rename("r/a", "r/full"))
    run("rename dir over empty dir", lambda: (os.rename("r/a", "r/empty"), st("r/empty"), st("r")))
    run("rename missing", lambda: os.rename("r/none", "r/x"))
    run("rename onto itself", lambda: (os.rename("r/file", "r/file"), st("r/file")))
    run("rename file to missing dir", lambda: os.rename("r/file", "r/none/file"))
    run("rename file over file", lambda: (write("r/other"), os.rename("r/other", "r/file"), st("r/file")))
    run("nlink of r", lambda: st("r"))


def links():
    write("l-target")
    run("symlink", lambda: (os.symlink("l-target", "l"), st("l")))
    run("symlink exists", lambda: os.symlink("x", "l"))
    run("symlink loop open", lambda: (os.symlink("loop2", "loop1"), os.symlink("loop1", "loop2"), os.open("loop1", os.O_RDONLY)))
    run("readlink", lambda: os.readlink("l"))
    run("open through link", lambda: os.close(os.open("l", os.O_RDONLY)))
    run("O_NOFOLLOW on link", lambda: os.open("l", os.O_RDONLY | os.O_NOFOLLOW))


def hardlinks():
    write("h1", b"one")
    run("link", lambda: (os.link("h1", "h2"), st("h1"), st("h2")))
    run("same inode", lambda: os.stat("h1").st_ino == os.stat("h2").st_ino)
    run("write one name, read the other", lambda: (write("h2", b"two"), open("h1", "rb").read()))
    run("link into subdir", lambda: (os.mkdir("hd"), os.link("h2", "hd/h3"), st("hd/h3")))
    run("link exists", lambda: os.link("h1", "h2"))
    run("link a directory", lambda: os.link("hd", "hd2"))
    run("link missing", lambda: os.link("none", "h4"))
    run("link into missing dir", lambda: os.link("h1", "none/h4"))
    run("link through a file", lambda: os.link("h1", "h1/h4"))
    run("link long name", lambda: os.link("h1", LONG))
    run("rename one name", lambda: (os.rename("h2", "h5"), st("h5"), st("h1")))
    run("rename over another name of itself", lambda: (os.rename("h1", "h5"), st("h1"), st("h5")))
    run("unlink one name", lambda: (os.unlink("h5"), st("h1"), open("hd/h3", "rb").read()))
    run("rmdir with a link inside", lambda: os.rmdir("hd"))
    run("symlink linked", lambda: (os.symlink("h1", "hs"), os.link("hs", "hs2", follow_symlinks=False), st("hs2")))
    run("fifo linked", lambda: (os.mkfifo("hf"), os.link("hf", "hf2"), st("hf2")))

    def open_after_last_unlink():
        fd = os.open("h1", os.O_RDONLY)
        try:
            os.unlink("h1")
            os.unlink("hd/h3")
            return f"nlink={os.fstat(fd).st_nlink} {os.pread(fd, 10, 0)}"
        finally:
            os.close(fd)
    run("open after the last name goes", open_after_last_unlink)


def attrs():
    write("t", b"12345")
    run("chmod", lambda: (os.chmod("t", 0o4751), st("t")))
    run("truncate up", lambda: (os.truncate("t", 100), st("t")))
    run("truncate down", lambda: (os.truncate("t", 2), st("t")))
    run("utime ns", lambda: (os.utime("t", ns=(1_500_000_000_123_456_789, 1_600_000_000_987_654_321)), os.stat("t").st_mtime_ns))
    run("utime mtime kept", lambda: os.stat("t").st_mtime_ns)
    run("atime kept apart", lambda: os.stat("t").st_atime_ns)
    run("utimensat atime, mtime omitted", lambda: (utimensat("t", (1_400_000_000, 111_222_333), (0, UTIME_OMIT)),
                                                   os.stat("t").st_atime_ns, os.stat("t").st_mtime_ns))
    run("a read records an access older than the change (relatime)", lambda: read_then_atime("t") > 1_400_000_000_111_222_333)
    run("a second read records nothing", lambda: read_then_atime("t") == os.stat("t").st_atime_ns)
    run("chmod keeps atime", lambda: (at := os.stat("t").st_atime_ns, os.chmod("t", 0o644), os.stat("t").st_atime_ns == at)[2])
    run("mkfifo", lambda: (os.mkfifo("fifo", 0o640), st("fifo")))
    run("mkfifo exists", lambda: os.mkfifo("fifo"))
    run("mknod char", lambda: (os.mknod("chr", 0o600 | stat.S_IFCHR, os.makedev(1, 7)), st("chr")))
    run("truncate fifo", lambda: os.truncate("fifo", 0))


def seek_holes():
    """SEEK_DATA/SEEK_HOLE on a file with holes at 64 KiB boundaries (a local disk's 4 KiB
    blocks and the store's 64 KiB ones then agree). After close: while a file is open for
    writing, the mount calls all of it data (fs/vfs.ts says why; tests/posix_test.ts)."""
    k = 1024
    fd = os.open("sparse", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, 1024 * k)
    os.pwrite(fd, b"d" * (64 * k), 256 * k)
    os.pwrite(fd, b"e" * (64 * k), 640 * k)
    os.close(fd)
    fd = os.open("sparse", os.O_RDONLY)
    try:
        for label, off, whence in [("data from 0", 0, os.SEEK_DATA), ("hole in data", 256 * k, os.SEEK_HOLE),
                                   ("data inside data", 300_000, os.SEEK_DATA), ("next data", 320 * k, os.SEEK_DATA),
                                   ("no data after", 704 * k, os.SEEK_DATA), ("hole after", 704 * k, os.SEEK_HOLE),
                                   ("hole at end", 1024 * k, os.SEEK_HOLE), ("data past end", 2048 * k, os.SEEK_DATA),
                                   ("negative", -1, os.SEEK_DATA)]:
            run(f"seek {label}", lambda: os.lseek(fd, off, whence))
    finally:
        os.close(fd)

    def hole_of_dense():
        write("dense", b"x" * 100_000)
        d = os.open("dense", os.O_RDONLY)
        try:
            return os.lseek(d, 0, os.SEEK_HOLE)
        finally:
            os.close(d)
    run("dense file: its end is the first hole", hole_of_dense)


UNDEFINED = 0xFFFFFFFF
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
ACCESS, DEFAULT = "system.posix_acl_access", "system.posix_acl_default"


def acl(*entries):
    """An ACL's xattr value from (tag, perm[, id]) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", e[0], e[1], e[2] if len(e) > 2 else UNDEFINED)
                                           for e in entries)


def get_acl(path, name=ACCESS):
    return os.getxattr(path, name, follow_symlinks=False).hex()


def acls():
    """POSIX ACLs: the mode kept in step, chmod, inheritance from a default ACL, the umask."""
    write("acl-f")
    named = acl((USER_OBJ, 6), (USER, 5, 1000), (GROUP_OBJ, 4), (MASK, 7), (OTHER, 0))
    run("access ACL with a named user", lambda: (os.setxattr("acl-f", ACCESS, named), st("acl-f"), get_acl("acl-f")))
    run("listxattr shows it", lambda: sorted(os.listxattr("acl-f")))
    run("chmod rewrites the ACL", lambda: (os.chmod("acl-f", 0o604), st("acl-f"), get_acl("acl-f")))
    run("an ACL the mode can say", lambda: (write("acl-g"), os.setxattr("acl-g", ACCESS, acl((USER_OBJ, 7), (GROUP_OBJ, 5), (OTHER, 1))), st("acl-g")))
    run("is not kept", lambda: get_acl("acl-g"))
    run("remove the access ACL", lambda: (os.removexattr("acl-f", ACCESS), st("acl-f"), sorted(os.listxattr("acl-f"))))
    run("remove a missing ACL", lambda: os.removexattr("acl-f", ACCESS))
    run("ACL too short", lambda: os.setxattr("acl-f", ACCESS, b"\x02\0\0\0\x01\0"))
    run("ACL of another version", lambda: os.setxattr("acl-f", ACCESS, struct.pack("<I", 1) + named[4:]))
    run("named entry without a mask", lambda: os.setxattr("acl-f", ACCESS, acl((USER_OBJ, 6), (USER, 5, 1000), (GROUP_OBJ, 4), (OTHER, 0))))
    run("entries out of order", lambda: os.setxattr("acl-f", ACCESS, acl((GROUP_OBJ, 4), (USER_OBJ, 6), (OTHER, 0))))
    run("default ACL on a file", lambda: os.setxattr("acl-f", DEFAULT, named))
    os.mkdir("acl-d", 0o755)
    inherited = acl((USER_OBJ, 7), (USER, 6, 1000), (GROUP_OBJ, 5), (MASK, 7), (OTHER, 0))
    run("default ACL on a directory", lambda: (os.setxattr("acl-d", DEFAULT, inherited), st("acl-d"), get_acl("acl-d", DEFAULT)))
    old = os.umask(0o077)
    try:
        run("create under a default ACL ignores the umask", lambda: (write("acl-d/f"), st("acl-d/f"), get_acl("acl-d/f")))
        run("mkdir under it inherits both ACLs", lambda: (os.mkdir("acl-d/sub", 0o750), st("acl-d/sub"), get_acl("acl-d/sub"), get_acl("acl-d/sub", DEFAULT)))
        run("and passes them on", lambda: (os.mkdir("acl-d/sub/deeper", 0o777), st("acl-d/sub/deeper"), get_acl("acl-d/sub/deeper", DEFAULT)))
        run("mkfifo under it", lambda: (os.mkfifo("acl-d/fifo", 0o666), st("acl-d/fifo"), get_acl("acl-d/fifo")))
        run("symlink under it", lambda: (os.symlink("f", "acl-d/link"), st("acl-d/link"), sorted(os.listxattr("acl-d/link", follow_symlinks=False))))
        run("create without a default ACL takes the umask", lambda: (write("acl-plain"), st("acl-plain")))
        run("mkdir without one takes the umask", lambda: (os.mkdir("acl-plain-d", 0o777), st("acl-plain-d")))
        os.mkdir("acl-e", 0o755)
        run("a default ACL the mode can say", lambda: (os.setxattr("acl-e", DEFAULT, acl((USER_OBJ, 7), (GROUP_OBJ, 0), (OTHER, 4))),
                                                       write("acl-e/f"), st("acl-e/f"), sorted(os.listxattr("acl-e/f"))))
        run("remove the default ACL", lambda: (os.removexattr("acl-d", DEFAULT), write("acl-d/g"), st("acl-d/g"), sorted(os.listxattr("acl-d/g"))))
    finally:
        os.umask(old)


def random_acl(rng):
    """A valid ACL: owner, some named users and groups, group, a mask when needed (or by chance), other."""
    perm = lambda: rng.randrange(8)
    users = sorted(rng.sample([1000, 1001, 1002], rng.randrange(3)))
    groups = sorted(rng.sample([2000, 2001], rng.randrange(2)))
    entries = [(USER_OBJ, perm())] + [(USER, perm(), u) for u in users] + [(GROUP_OBJ, perm())]
    entries += [(GROUP, perm(), g) for g in groups]
    if users or groups or rng.random() < 0.3:
        entries.append((MASK, perm()))
    return acl(*entries + [(OTHER, perm())])


def acl_random():
    """Random ACLs, modes, umasks and chmods: inheritance and the mode kept in step, as ext4 does."""
    rng = random.Random(7)
    os.mkdir("acl-random")
    old = os.umask(0)
    try:
        for i in range(60):
            d = f"acl-random/{i}"
            os.mkdir(d, 0o755)
            if rng.random() < 0.8:
                os.setxattr(d, DEFAULT, random_acl(rng))
            os.umask(rng.choice([0, 0o022, 0o077, 0o027]))
            kind, mode = rng.choice(["file", "dir", "fifo"]), rng.randrange(0o1000)
            p = f"{d}/n"
            make = {"file": lambda: os.close(os.open(p, os.O_WRONLY | os.O_CREAT, mode)),
                    "dir": lambda: os.mkdir(p, mode), "fifo": lambda: os.mkfifo(p, mode)}[kind]
            run(f"{i} make {kind} {oct(mode)}", lambda: (make(), st(p), sorted(os.listxattr(p)), acls_of(p)))
            if rng.random() < 0.5:
                run(f"{i} set access ACL", lambda: (os.setxattr(p, ACCESS, random_acl(rng)), st(p), acls_of(p)))
            m = rng.randrange(0o1000)
            run(f"{i} chmod {oct(m)}", lambda: (os.chmod(p, m), st(p), acls_of(p)))
    finally:
        os.umask(old)


def acls_of(path):
    got = []
    for name in (ACCESS, DEFAULT):
        try:
            got.append(get_acl(path, name))
        except OSError as e:
            got.append(errno.errorcode[e.errno])
    return got


def special_names():
    run("mkdir empty name", lambda: os.mkdir(""))
    run("create . ", lambda: os.open(".", os.O_WRONLY | os.O_CREAT, 0o644))
    run("unlink ..", lambda: os.unlink(".."))


def perms_setup():
    """As root: what the unprivileged calls of `perms` run into."""
    os.mkdir("locked")
    write("locked/f")
    os.mkdir("sticky")
    os.chmod("sticky", 0o1777)
    write("sticky/rootfile")
    os.mkdir("mine")
    os.chown("mine", 65534, 65534)
    write("locked/acl-read")
    os.chmod("locked/acl-read", 0o600)
    os.setxattr("locked/acl-read", ACCESS, acl((USER_OBJ, 6), (USER, 4, 65534), (GROUP_OBJ, 0), (MASK, 4), (OTHER, 0)))
    write("locked/acl-masked")
    os.setxattr("locked/acl-masked", ACCESS, acl((USER_OBJ, 6), (USER, 6, 65534), (GROUP_OBJ, 0), (MASK, 0), (OTHER, 0)))
    os.mkdir("acl-shared", 0o755)
    shared = acl((USER_OBJ, 7), (USER, 7, 65534), (GROUP_OBJ, 5), (MASK, 7), (OTHER, 5))
    os.setxattr("acl-shared", ACCESS, shared)
    os.setxattr("acl-shared", DEFAULT, shared)


def perms():
    """As an unprivileged user (65534), after perms_setup: default_permissions and the sticky bit."""
    run("create in root's dir", lambda: write("locked/new"))
    run("unlink in root's dir", lambda: os.unlink("locked/f"))
    run("open root's file for writing", lambda: os.open("locked/f", os.O_WRONLY))
    run("read root's file", lambda: os.close(os.open("locked/f", os.O_RDONLY)))
    run("chmod root's file", lambda: os.chmod("locked/f", 0o777))
    run("chown root's file", lambda: os.chown("locked/f", 65534, 65534))
    run("utime explicit on root's file", lambda: os.utime("locked/f", (1, 1)))
    run("utime now on root's file", lambda: os.utime("locked/f"))
    run("create in sticky dir", lambda: (write("sticky/mine"), st("sticky/mine")))
    run("unlink root's file in sticky dir", lambda: os.unlink("sticky/rootfile"))
    run("rename root's file in sticky dir", lambda: os.rename("sticky/rootfile", "sticky/x"))
    run("rename over root's file in sticky dir", lambda: os.rename("sticky/mine", "sticky/rootfile"))
    run("unlink own file in sticky dir", lambda: os.unlink("sticky/mine"))
    run("mkdir own", lambda: (os.mkdir("mine/sub", 0o700), st("mine/sub")))
    run("mknod char as user", lambda: os.mknod("mine/chr", 0o600 | stat.S_IFCHR, os.makedev(1, 7)))
    run("mkfifo as user", lambda: (os.mkfifo("mine/fifo", 0o600), st("mine/fifo")))
    run("chown to root", lambda: os.chown("mine/fifo", 0, 0))
    run("chmod setgid as non-member", lambda: (os.chmod("mine/sub", 0o2755), st("mine/sub")))
    run("user xattr on own dir", lambda: os.setxattr("mine", "user.x", b"1"))
    run("trusted xattr as user", lambda: os.setxattr("mine", "trusted.x", b"1"))
    run("user xattr on root's file", lambda: os.setxattr("locked/f", "user.x", b"1"))
    run("read through an ACL's named user", lambda: open("locked/acl-read", "rb").read())
    run("write the ACL does not allow", lambda: os.open("locked/acl-read", os.O_WRONLY))
    run("named user held back by the mask", lambda: os.open("locked/acl-masked", os.O_RDONLY))
    run("set an ACL on root's file", lambda: os.setxattr("locked/acl-read", ACCESS, acl((USER_OBJ, 7), (GROUP_OBJ, 7), (OTHER, 7))))
    run("create in root's dir an ACL opens", lambda: (write("acl-shared/mine"), st("acl-shared/mine"), get_acl("acl-shared/mine")))
    run("ACL on own dir", lambda: (os.setxattr("mine", ACCESS, acl((USER_OBJ, 7), (GROUP_OBJ, 5), (OTHER, 0))), st("mine")))
    run("hard link to root's file", lambda: os.link("locked/f", "mine/f"))
    run("hard link into root's dir", lambda: (write("mine/own"), os.link("mine/own", "locked/own")))


GROUPS = {"names": names, "dirs": dirs, "renames": renames, "links": links, "hardlinks": hardlinks, "attrs": attrs,
          "special_names": special_names, "seek_holes": seek_holes, "acls": acls, "acl_random": acl_random, "perms_setup": perms_setup, "perms": perms}
ALL = ["names", "dirs", "renames", "links", "hardlinks", "attrs", "special_names", "seek_holes", "acls", "acl_random"]
for g in sys.argv[2:] or ALL:
    out.append(f"# {g}")
    GROUPS[g]()
print("\n".join(out))
