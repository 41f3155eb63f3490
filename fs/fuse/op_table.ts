/**
 * The table of low-level operations libfuse calls: one FFI callback per FUSE request,
 * each decoding its arguments (fs/fuse/structs.ts), calling the FuseHandler method and
 * encoding the reply. Callbacks run on the session's JS thread, inside
 * fuse_session_process_buf; every pointer they receive dies when they return.
 */
import type { Fuse } from "./libfuse.ts";
import { LAYOUT as L } from "./layout.ts";
import type { Attr, Caller, EntryOut, FuseHandler, SetAttrIn } from "./ops.ts";
import { Errno } from "./ops.ts";
import { replyDir, replyDirPlus } from "./dir_replies.ts";
import { cstr, cString, entryBuffer, fileInfo, fileInfoBuffer, num, statBuffer } from "./structs.ts";

type Ptr = Deno.PointerValue;

/** What the table needs of the session: a request run to exactly one reply, and errno mapping. */
export interface RequestRunner {
  serve<T>(req: Ptr, op: string, run: () => T | Promise<T>, reply: (v: T) => void): void;
  errno(e: unknown, op: string): number;
}

/** Builds the fuse_lowlevel_ops table; the callbacks must be closed when the session ends. */
export function buildOpTable(
  fuse: Fuse,
  handler: FuseHandler,
  run: RequestRunner,
  opts: { xattrs: boolean; onInit?: () => void },
): { ops: Uint8Array; callbacks: Deno.UnsafeCallback[] } {
  const t = new OpTable(fuse, handler, run, opts.xattrs, opts.onInit);
  return { ops: t.build(), callbacks: t.callbacks };
}

class OpTable {
  readonly callbacks: Deno.UnsafeCallback[] = [];
  /** The kernel takes ENOSYS from OPENDIR as "open every directory without asking". */
  private noOpendir = false;

  constructor(
    private readonly fuse: Fuse,
    private readonly handler: FuseHandler,
    private readonly run: RequestRunner,
    private readonly xattrs: boolean,
    private readonly onInit?: () => void,
  ) {}

  private caller(req: Ptr): Caller {
    const ctx = this.fuse.fuse_req_ctx(req);
    if (ctx === null) return { uid: 0, gid: 0, pid: 0, umask: 0o022 };
    const v = new Deno.UnsafePointerView(ctx);
    return {
      uid: v.getUint32(L["fuse_ctx.uid"]),
      gid: v.getUint32(L["fuse_ctx.gid"]),
      pid: v.getInt32(L["fuse_ctx.pid"]),
      umask: v.getUint32(L["fuse_ctx.umask"]),
    };
  }

  private replyEntry = (req: Ptr) => (e: EntryOut) => void this.fuse.fuse_reply_entry(req, entryBuffer(e));
  private replyOk = (req: Ptr) => () => void this.fuse.fuse_reply_err(req, 0);
  private replyAttr = (req: Ptr) => (r: { attr: Attr; timeout: number }) =>
    void this.fuse.fuse_reply_attr(req, statBuffer(r.attr), r.timeout);

  build(): Uint8Array {
    const ops = new Uint8Array(L.fuse_lowlevel_ops);
    const table = new DataView(ops.buffer);
    const h = this.handler;
    const f = this.fuse;
    const def = <const P extends readonly Deno.NativeType[]>(
      slot: keyof typeof L & `fuse_lowlevel_ops.${string}`,
      parameters: P,
      fn: (...args: Deno.FromNativeParameterTypes<P>) => void,
    ) => {
      const cb = new Deno.UnsafeCallback({ parameters, result: "void" } as const, fn as never);
      this.callbacks.push(cb);
      table.setBigUint64(L[slot], BigInt(Deno.UnsafePointer.value(cb.pointer)), true);
    };
    const P = "pointer", U64 = "u64", I64 = "i64", I32 = "i32", U32 = "u32", USZ = "usize" as const;

    def("fuse_lowlevel_ops.init", [P, P], (_ud, conn) => {
      if (conn === null) return;
      const v = new Deno.UnsafePointerView(conn);
      const capable = v.getUint32(L["fuse_conn_info.capable"]);
      const want = v.getUint32(L["fuse_conn_info.want"]);
      // Writes are cached and merged by the kernel; we see fewer, larger writes.
      let add = capable & L.FUSE_CAP_WRITEBACK_CACHE;
      this.noOpendir = (capable & L.FUSE_CAP_NO_OPENDIR_SUPPORT) !== 0;
      // ACLs come with xattrs: the kernel checks them; we keep them and apply the umask
      // ourselves, since a directory's default ACL overrides it (fs/posix_acl.ts).
      if (this.xattrs) add |= capable & (L.FUSE_CAP_POSIX_ACL | L.FUSE_CAP_DONT_MASK);
      // Without atomic O_TRUNC, open(O_TRUNC) of an existing file is a setattr to size 0
      // first, and a create is not: with it, every create with O_TRUNC (what most
      // programs write files with) cost the kernel a getattr and a setattr of the times.
      const drop = L.FUSE_CAP_ATOMIC_O_TRUNC;
      new DataView(Deno.UnsafePointerView.getArrayBuffer(conn, 64)).setUint32(
        L["fuse_conn_info.want"],
        (want | add) & ~drop,
        true,
      );
      // After this callback libfuse writes the reply, which the kernel applies at once.
      if (this.onInit) queueMicrotask(this.onInit);
    });
    def("fuse_lowlevel_ops.lookup", [P, U64, P], (req, parent, name) => {
      this.run.serve(req, "lookup", () => h.lookup(num(parent), cString(name)), this.replyEntry(req));
    });
    def("fuse_lowlevel_ops.forget", [P, U64, U64], (req, ino, nlookup) => {
      try {
        h.forget(num(ino), num(nlookup));
      } catch (e) {
        this.run.errno(e, "forget");
      }
      f.fuse_reply_none(req);
    });
    def("fuse_lowlevel_ops.forget_multi", [P, USZ, P], (req, count, forgets) => {
      if (forgets !== null) {
        const v = new Deno.UnsafePointerView(forgets);
        for (let i = 0; i < num(count); i++) {
          try {
            h.forget(num(v.getBigUint64(i * 16)), num(v.getBigUint64(i * 16 + 8)));
          } catch (e) {
            this.run.errno(e, "forget");
          }
        }
      }
      f.fuse_reply_none(req);
    });
    def("fuse_lowlevel_ops.getattr", [P, U64, P], (req, ino) => {
      this.run.serve(req, "getattr", () => h.getattr(num(ino)), this.replyAttr(req));
    });
    def("fuse_lowlevel_ops.setattr", [P, U64, P, I32, P], (req, ino, attr, toSet, fi) => {
      const set: SetAttrIn = {};
      const v = new Deno.UnsafePointerView(attr!);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const ts = (off: number) => v.getBigInt64(off) * 1_000_000_000n + v.getBigInt64(off + 8);
      if (toSet & L.FUSE_SET_ATTR_MODE) set.mode = v.getUint32(L["stat.st_mode"]);
      if (toSet & L.FUSE_SET_ATTR_UID) set.uid = v.getUint32(L["stat.st_uid"]);
      if (toSet & L.FUSE_SET_ATTR_GID) set.gid = v.getUint32(L["stat.st_gid"]);
      if (toSet & L.FUSE_SET_ATTR_SIZE) set.size = num(v.getBigInt64(L["stat.st_size"]));
      if (toSet & L.FUSE_SET_ATTR_ATIME) set.atimeNs = ts(L["stat.st_atim"]);
      if (toSet & L.FUSE_SET_ATTR_ATIME_NOW) set.atimeNs = nowNs;
      if (toSet & L.FUSE_SET_ATTR_MTIME) set.mtimeNs = ts(L["stat.st_mtim"]);
      if (toSet & L.FUSE_SET_ATTR_MTIME_NOW) set.mtimeNs = nowNs;
      if (toSet & L.FUSE_SET_ATTR_CTIME) set.ctimeNs = ts(L["stat.st_ctim"]);
      const fh = fi === null ? undefined : fileInfo(fi).fh;
      this.run.serve(req, "setattr", () => h.setattr(num(ino), set, fh), this.replyAttr(req));
    });
    def("fuse_lowlevel_ops.readlink", [P, U64], (req, ino) => {
      this.run.serve(req, "readlink", () => h.readlink(num(ino)), (t) => void f.fuse_reply_readlink(req, cstr(t)));
    });
    def("fuse_lowlevel_ops.mknod", [P, U64, P, U32, U64], (req, parent, name, mode, rdev) => {
      const c = this.caller(req);
      const serve = () => h.mknod(num(parent), cString(name), mode, num(rdev), c);
      this.run.serve(req, "mknod", serve, this.replyEntry(req));
    });
    def("fuse_lowlevel_ops.mkdir", [P, U64, P, U32], (req, parent, name, mode) => {
      const c = this.caller(req);
      this.run.serve(req, "mkdir", () => h.mkdir(num(parent), cString(name), mode, c), this.replyEntry(req));
    });
    def("fuse_lowlevel_ops.unlink", [P, U64, P], (req, parent, name) => {
      this.run.serve(req, "unlink", () => h.unlink(num(parent), cString(name)), this.replyOk(req));
    });
    def("fuse_lowlevel_ops.rmdir", [P, U64, P], (req, parent, name) => {
      this.run.serve(req, "rmdir", () => h.rmdir(num(parent), cString(name)), this.replyOk(req));
    });
    def("fuse_lowlevel_ops.symlink", [P, P, U64, P], (req, link, parent, name) => {
      const c = this.caller(req);
      this.run.serve(
        req,
        "symlink",
        () => h.symlink(cString(link), num(parent), cString(name), c),
        this.replyEntry(req),
      );
    });
    def("fuse_lowlevel_ops.rename", [P, U64, P, U64, P, U32], (req, parent, name, np, nn, flags) => {
      this.run.serve(
        req,
        "rename",
        () => h.rename(num(parent), cString(name), num(np), cString(nn), flags),
        this.replyOk(req),
      );
    });
    def("fuse_lowlevel_ops.link", [P, U64, U64, P], (req, ino, np, nn) => {
      this.run.serve(req, "link", () => h.link(num(ino), num(np), cString(nn)), this.replyEntry(req));
    });
    def("fuse_lowlevel_ops.open", [P, U64, P], (req, ino, fi) => {
      const { flags } = fileInfo(fi);
      this.run.serve(
        req,
        "open",
        () => h.open(num(ino), flags),
        (o) => void f.fuse_reply_open(req, fileInfoBuffer(o, flags)),
      );
    });
    def("fuse_lowlevel_ops.create", [P, U64, P, U32, P], (req, parent, name, mode, fi) => {
      const { flags } = fileInfo(fi);
      const c = this.caller(req);
      this.run.serve(
        req,
        "create",
        () => h.create(num(parent), cString(name), mode, flags, c),
        ([e, o]) => void f.fuse_reply_create(req, entryBuffer(e), fileInfoBuffer(o, flags)),
      );
    });
    def("fuse_lowlevel_ops.read", [P, U64, USZ, I64, P], (req, ino, size, off, fi) => {
      const { fh } = fileInfo(fi);
      this.run.serve(
        req,
        "read",
        () => h.read(num(ino), num(size), num(off), fh),
        (segments) => {
          this.replyData(req, segments);
          h.readSent?.(segments);
        },
      );
    });
    def("fuse_lowlevel_ops.write", [P, U64, P, USZ, I64, P], (req, ino, buf, size, off, fi) => {
      const { fh } = fileInfo(fi);
      const n = num(size);
      // A view of libfuse's buffer, not a copy (see FuseHandler.write): a 1 MiB copy per
      // write was garbage the size of everything written, freed only at V8's next GC.
      const data = n === 0 ? new Uint8Array(0) : new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(buf!, n));
      this.run.serve(
        req,
        "write",
        () => h.write(num(ino), data, num(off), fh),
        (w) => void f.fuse_reply_write(req, BigInt(w)),
      );
    });
    // No flush: libfuse answers ENOSYS, and the kernel then sends no FLUSH on any later
    // close. Every close(2) was a request that did nothing here (one of the six a small
    // file's create, write and close cost); the kernel still writes a file's cached pages,
    // and its times, before close returns.
    def("fuse_lowlevel_ops.release", [P, U64, P], (req, ino, fi) => {
      const { fh } = fileInfo(fi);
      this.run.serve(req, "release", () => h.release(num(ino), fh), this.replyOk(req));
    });
    def("fuse_lowlevel_ops.fsync", [P, U64, I32, P], (req, ino, datasync, fi) => {
      const { fh } = fileInfo(fi);
      this.run.serve(req, "fsync", () => h.fsync(num(ino), datasync !== 0, fh), this.replyOk(req));
    });
    // No OPENDIR or RELEASEDIR: ENOSYS tells a kernel that can (5.1 on) to stop sending
    // them, two of the four round trips a walk paid per directory (readdir keeps a
    // reader's place in its offsets, fs/dir_positions.ts). The kernel then also keeps
    // each directory's listing until the directory changes, as with FOPEN_CACHE_DIR.
    // An older kernel gets an open without a handle, and libfuse answers its RELEASEDIR.
    def("fuse_lowlevel_ops.opendir", [P, U64, P], (req, _ino, fi) => {
      if (this.noOpendir) return void f.fuse_reply_err(req, Errno.ENOSYS);
      f.fuse_reply_open(req, fileInfoBuffer({ fh: 0 }, fileInfo(fi).flags));
    });
    def("fuse_lowlevel_ops.readdir", [P, U64, USZ, I64, P], (req, ino, size, off) => {
      const max = num(size);
      this.run.serve(req, "readdir", () => h.readdir(num(ino), num(off)), (part) => replyDir(f, req, part, max));
    });
    // With readdirplus the kernel gets each entry's attributes with the listing: a walk
    // then makes no lookup per name. Tried: files' attributes only for programs that look
    // up what they list; the kernel keeps a listing (no OPENDIR), so the next program to
    // stat those files paid a lookup each (docs/BENCHMARKS.md).
    def("fuse_lowlevel_ops.readdirplus", [P, U64, USZ, I64, P], (req, ino, size, off) => {
      const dir = num(ino);
      this.run.serve(
        req,
        "readdirplus",
        () => h.readdir(dir, num(off)),
        (part) => replyDirPlus(f, req, part, num(size), (e) => h.listedEntry(dir, e)),
      );
    });
    def("fuse_lowlevel_ops.fsyncdir", [P, U64, I32, P], (req, ino, datasync) => {
      this.run.serve(req, "fsyncdir", () => h.fsyncdir(num(ino), datasync !== 0), this.replyOk(req));
    });
    def("fuse_lowlevel_ops.statfs", [P, U64], (req, ino) => {
      this.run.serve(req, "statfs", () => h.statfs(num(ino)), (s) => {
        const b = new Uint8Array(L.statvfs);
        const v = new DataView(b.buffer);
        const set = (k: keyof typeof L, x: number) => v.setBigUint64(L[k], BigInt(Math.max(0, Math.floor(x))), true);
        set("statvfs.f_bsize", s.blockSize);
        set("statvfs.f_frsize", s.blockSize);
        set("statvfs.f_blocks", s.blocks);
        set("statvfs.f_bfree", s.blocksFree);
        set("statvfs.f_bavail", s.blocksFree);
        set("statvfs.f_files", s.files);
        set("statvfs.f_ffree", s.filesFree);
        set("statvfs.f_favail", s.filesFree);
        set("statvfs.f_namemax", s.nameMax);
        f.fuse_reply_statfs(req, b);
      });
    });
    def("fuse_lowlevel_ops.fallocate", [P, U64, I32, I64, I64, P], (req, ino, mode, offset, length) => {
      const allocate = () => h.fallocate(num(ino), mode, num(offset), num(length));
      this.run.serve(req, "fallocate", allocate, this.replyOk(req));
    });
    def(
      "fuse_lowlevel_ops.copy_file_range",
      [P, U64, I64, P, U64, I64, P, USZ, I32],
      (req, inoIn, offIn, _fiIn, inoOut, offOut, _fiOut, len, flags) => {
        const copy = () => h.copyFileRange(num(inoIn), num(offIn), num(inoOut), num(offOut), num(len), flags);
        this.run.serve(req, "copy_file_range", copy, (n) => void f.fuse_reply_write(req, BigInt(n)));
      },
    );
    def("fuse_lowlevel_ops.lseek", [P, U64, I64, I32, P], (req, ino, off, whence) => {
      const seek = () => h.lseek(num(ino), num(off), whence);
      this.run.serve(req, "lseek", seek, (at) => void f.fuse_reply_lseek(req, BigInt(at)));
    });
    // Served only when asked for. Once a filesystem answers getxattr, the kernel asks it
    // for security.capability before every write() (to drop file capabilities): a
    // round trip each, which made 4 KiB writes 4-6x slower. Unserved (ENOSYS), the
    // kernel stops asking, and xattr calls are ENOTSUP as before.
    if (!this.xattrs) return ops;
    def("fuse_lowlevel_ops.setxattr", [P, U64, P, P, USZ, I32], (req, ino, name, value, size, flags) => {
      const n = num(size);
      const bytes = n === 0 || value === null
        ? new Uint8Array(0)
        : new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(value, n)).slice();
      const key = cString(name);
      this.run.serve(req, "setxattr", () => h.setxattr(num(ino), key, bytes, flags), this.replyOk(req));
    });
    def("fuse_lowlevel_ops.getxattr", [P, U64, P, USZ], (req, ino, name, size) => {
      const key = cString(name);
      this.run.serve(req, "getxattr", () => h.getxattr(num(ino), key), this.replyXattr(req, num(size)));
    });
    def("fuse_lowlevel_ops.listxattr", [P, U64, USZ], (req, ino, size) => {
      const names = (list: string[]) => new TextEncoder().encode(list.map((n) => n + "\0").join(""));
      const reply = this.replyXattr(req, num(size));
      this.run.serve(req, "listxattr", () => h.listxattr(num(ino)), (list) => reply(names(list)));
    });
    def("fuse_lowlevel_ops.removexattr", [P, U64, P], (req, ino, name) => {
      const key = cString(name);
      this.run.serve(req, "removexattr", () => h.removexattr(num(ino), key), this.replyOk(req));
    });
    return ops;
  }

  /** getxattr/listxattr: size 0 asks how big the answer is; a smaller buffer is ERANGE. */
  private replyXattr = (req: Ptr, size: number) => (bytes: Uint8Array) => {
    if (size === 0) void this.fuse.fuse_reply_xattr(req, BigInt(bytes.length));
    else if (bytes.length > size) void this.fuse.fuse_reply_err(req, Errno.ERANGE);
    else void this.fuse.fuse_reply_buf(req, bytes, BigInt(bytes.length));
  };

  /**
   * Replies with the segments gathered by libfuse's writev: no copy into one buffer.
   * The views must stay unchanged until the call returns, which it does before any other
   * request runs.
   */
  private replyData(req: Deno.PointerValue, segments: Uint8Array[]): void {
    if (segments.length <= 1) {
      const data = segments[0] ?? new Uint8Array(0);
      this.fuse.fuse_reply_buf(req, data, BigInt(data.length));
      return;
    }
    const iov = new BigUint64Array((segments.length * L.iovec) / 8);
    const base = L["iovec.iov_base"] / 8, len = L["iovec.iov_len"] / 8, stride = L.iovec / 8;
    segments.forEach((s, i) => {
      iov[i * stride + base] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)));
      iov[i * stride + len] = BigInt(s.length);
    });
    this.fuse.fuse_reply_iov(req, iov, segments.length);
  }
}
