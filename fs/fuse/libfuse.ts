/**
 * libfuse3's low-level API through Deno FFI: the symbols the mount uses, no more.
 * fs/fuse/session.ts gives them meaning; libc is sys/libc.ts.
 */
const fuseSymbols = {
  fuse_session_new: { parameters: ["buffer", "buffer", "usize", "pointer"], result: "pointer" },
  fuse_session_mount: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_session_fd: { parameters: ["pointer"], result: "i32" },
  fuse_session_receive_buf: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_session_process_buf: { parameters: ["pointer", "buffer"], result: "void" },
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
  fuse_reply_xattr: { parameters: ["pointer", "usize"], result: "i32" },
  fuse_reply_iov: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  fuse_reply_lseek: { parameters: ["pointer", "i64"], result: "i32" },
  fuse_reply_statfs: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_req_ctx: { parameters: ["pointer"], result: "pointer" },
  fuse_lowlevel_notify_inval_inode: { parameters: ["pointer", "u64", "i64", "i64"], result: "i32" },
} as const;

export type Fuse = Deno.DynamicLibrary<typeof fuseSymbols>["symbols"];

let fuse: Deno.DynamicLibrary<typeof fuseSymbols> | undefined;

/** Loads libfuse3; a clear error when the fuse3 package is missing. */
export function loadFuse(): Fuse {
  if (!fuse) {
    try {
      fuse = Deno.dlopen("libfuse3.so.3", fuseSymbols);
    } catch (e) {
      throw new Error(`cannot load libfuse3.so.3 (install the fuse3 package): ${(e as Error).message}`);
    }
  }
  return fuse.symbols;
}
