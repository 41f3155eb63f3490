/**
 * libfuse3's low-level API and the few libc calls the mount (and a client syncing it)
 * needs, through Deno FFI. Symbols only; fs/fuse/session.ts gives them meaning.
 */
const fuseSymbols = {
  fuse_session_new: { parameters: ["buffer", "buffer", "usize", "pointer"], result: "pointer" },
  fuse_session_mount: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_session_fd: { parameters: ["pointer"], result: "i32" },
  fuse_session_receive_buf: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_session_process_buf: { parameters: ["pointer", "buffer"], result: "void" },
  fuse_session_exit: { parameters: ["pointer"], result: "void" },
  fuse_session_exited: { parameters: ["pointer"], result: "i32" },
  fuse_session_unmount: { parameters: ["pointer"], result: "void" },
  fuse_session_destroy: { parameters: ["pointer"], result: "void" },
  fuse_reply_err: { parameters: ["pointer", "i32"], result: "i32" },
  fuse_reply_none: { parameters: ["pointer"], result: "void" },
  fuse_reply_entry: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_reply_create: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  fuse_reply_attr: { parameters: ["pointer", "buffer", "f64"], result: "i32" },
  fuse_reply_readlink: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_reply_open: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_reply_write: { parameters: ["pointer", "usize"], result: "i32" },
  fuse_reply_buf: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  fuse_reply_iov: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  fuse_reply_statfs: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_add_direntry: { parameters: ["pointer", "buffer", "usize", "buffer", "buffer", "i64"], result: "usize" },
  fuse_add_direntry_plus: { parameters: ["pointer", "buffer", "usize", "buffer", "buffer", "i64"], result: "usize" },
  fuse_req_ctx: { parameters: ["pointer"], result: "pointer" },
  fuse_lowlevel_notify_inval_inode: { parameters: ["pointer", "u64", "i64", "i64"], result: "i32" },
} as const;

const libcSymbols = {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  /** poll() on the calling thread: a short wait that wakes this thread directly. */
  poll_here: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
  malloc_trim: { parameters: ["u64"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  syncfs: { parameters: ["i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

export type Fuse = Deno.DynamicLibrary<typeof fuseSymbols>["symbols"];
export type Libc = Deno.DynamicLibrary<typeof libcSymbols>["symbols"];

let fuse: Deno.DynamicLibrary<typeof fuseSymbols> | undefined;
let libc: Deno.DynamicLibrary<typeof libcSymbols> | undefined;

/** Loads libfuse3; a clear error when the fuse3 package is missing. */
export function loadFuse(): { fuse: Fuse; libc: Libc } {
  if (!fuse) {
    try {
      fuse = Deno.dlopen("libfuse3.so.3", fuseSymbols);
    } catch (e) {
      throw new Error(`cannot load libfuse3.so.3 (install the fuse3 package): ${(e as Error).message}`);
    }
  }
  return { fuse: fuse.symbols, libc: loadLibc() };
}

/** The libc calls alone, for a process that talks to a mount without serving one. */
export function loadLibc(): Libc {
  libc ??= Deno.dlopen("libc.so.6", libcSymbols);
  return libc.symbols;
}
