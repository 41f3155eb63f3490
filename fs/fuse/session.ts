/**
 * FuseSession: serves a FuseHandler on a mountpoint with libfuse3's low-level API.
 *
 * One JS thread owns the session. The /dev/fuse fd is non-blocking; the loop drains
 * ready requests with fuse_session_receive_buf + fuse_session_process_buf, so libfuse
 * calls our callbacks synchronously on this thread, then waits for the next request
 * (fs/fuse/request_wait.ts: busy, then asleep here, then awaiting a non-blocking FFI
 * poll() on a helper thread, which lets the event loop run). Measured faster than
 * libfuse's own threads with thread-safe callbacks (the FFI binding ran at the speed of
 * a C libfuse filesystem).
 *
 * Buffer lifetime: every pointer a callback receives (names, write data, file info,
 * setattr's stat) dies when the callback returns; we copy what we need first, except
 * write data, which the handler copies (into its page cache) before it returns. Every
 * request gets exactly one reply: a handler that throws gets EIO (or its errno), and
 * a request unanswered for WATCHDOG_MS is logged.
 */
import { setImmediate } from "node:timers";
import { type Libc, libc } from "../../sys/libc.ts";
import { type Fuse, loadFuse } from "./libfuse.ts";
import { LAYOUT as L } from "./layout.ts";
import { buildOpTable } from "./op_table.ts";
import { Errno, FuseError, type FuseHandler } from "./ops.ts";
import { cstr } from "./structs.ts";
import { OpTimes } from "./op_times.ts";
import { pollfdOf, WAIT_BUSY_US, waitForRequest } from "./request_wait.ts";

type Ptr = Deno.PointerValue;

const EAGAIN = 11, EINTR = 4;
const F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0o4000;
const WATCHDOG_MS = 30_000;
/**
 * Requests served between real event-loop turns, so timers, I/O and the loaders'
 * messages are not starved. The turn is a setImmediate, not a setTimeout(0): Deno's
 * zero timer waits about 2 ms (measured 2.2 ms per turn), which cost every request
 * 30 us on average while the caller waited.
 */
const YIELD_EVERY = 64;

export interface MountOptions {
  /** Extra -o options, e.g. "allow_other". */
  options?: string[];
  fsname?: string;
  log?: (line: string) => void;
  /** Serve the xattr requests (fs/fuse/op_table.ts says why this is a choice). */
  xattrs?: boolean;
  /** Called once the kernel has taken the session's init reply (the mount's settings are final). */
  onInit?: () => void;
  /** Microseconds to wait busy for the next request (fs/fuse/request_wait.ts); default WAIT_BUSY_US. */
  waitBusyUs?: number;
}

export class FuseSession {
  private readonly fuse: Fuse;
  private readonly libc: Libc;
  private readonly callbacks: Deno.UnsafeCallback[] = [];
  private readonly keep: Uint8Array[] = [];
  private se: Ptr = null;
  private stopping = false;
  private readonly inFlight = new Map<number, { op: string; since: number }>();
  private nextReq = 0;
  private readonly log: (line: string) => void;
  private readonly times = OpTimes.fromEnv();

  constructor(private readonly handler: FuseHandler, opts: MountOptions = {}) {
    this.fuse = loadFuse();
    this.libc = libc();
    this.log = opts.log ?? ((l) => console.error(l));
    this.xattrs = opts.xattrs ?? false;
    this.onInit = opts.onInit;
    this.waitBusyUs = opts.waitBusyUs ?? WAIT_BUSY_US;
    this.mountOptions = [
      `fsname=${opts.fsname ?? "revfs"}`,
      "subtype=revfs",
      "default_permissions",
      ...(opts.options ?? []),
    ];
  }

  private readonly mountOptions: string[];
  private readonly xattrs: boolean;
  private readonly onInit?: () => void;
  private readonly waitBusyUs: number;

  /** Requests received and not answered yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  mount(mountpoint: string): void {
    const argv = ["revfs", "-o", this.mountOptions.join(",")].map(cstr);
    this.keep.push(...argv);
    const argvPtrs = new BigUint64Array(argv.length + 1);
    argv.forEach((a, i) => argvPtrs[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a))));
    const argvBytes = new Uint8Array(argvPtrs.buffer);
    this.keep.push(argvBytes);
    const args = new Uint8Array(L.fuse_args);
    const av = new DataView(args.buffer);
    av.setInt32(L["fuse_args.argc"], argv.length, true);
    av.setBigUint64(L["fuse_args.argv"], BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(argvBytes))), true);
    av.setInt32(L["fuse_args.allocated"], 0, true);
    const { ops, callbacks } = buildOpTable(this.fuse, this.handler, {
      serve: (req, op, run, reply) => this.serveRequest(req, op, run, reply),
      errno: (e, op) => this.errno(e, op),
    }, { xattrs: this.xattrs, onInit: this.onInit });
    this.callbacks.push(...callbacks);
    this.keep.push(args, ops);
    this.se = this.fuse.fuse_session_new(args, ops, BigInt(ops.length), null);
    if (this.se === null) throw new Error("fuse_session_new failed (bad mount options?)");
    if (this.fuse.fuse_session_mount(this.se, cstr(mountpoint)) !== 0) {
      this.fuse.fuse_session_destroy(this.se);
      this.se = null;
      throw new Error(`cannot mount on ${mountpoint}`);
    }
  }

  /** Serves requests until unmounted or `exit()`; then unmounts and frees the session. */
  async serve(): Promise<void> {
    if (this.se === null) throw new Error("serve before mount");
    const se = this.se;
    const fd = this.fuse.fuse_session_fd(se);
    this.libc.fcntl(fd, F_SETFL, this.libc.fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    const buf = new Uint8Array(L.fuse_buf);
    const pollfd = pollfdOf(fd);
    const watchdog = setInterval(() => this.checkWatchdog(), WATCHDOG_MS / 3);
    let served = 0;
    let waitedHere = false;
    try {
      while (!this.stopping && this.fuse.fuse_session_exited(se) === 0) {
        const rc = this.fuse.fuse_session_receive_buf(se, buf);
        if (rc === -EAGAIN) {
          // Waiting on this thread blocks the event loop: only when no request waits on it.
          if (!waitedHere && this.inFlight.size === 0) {
            waitedHere = true;
            if (waitForRequest(this.libc, pollfd, this.waitBusyUs)) continue;
          }
          waitedHere = false;
          await this.libc.poll(pollfd, 1n, 250);
          continue;
        }
        waitedHere = false;
        if (rc === -EINTR) continue;
        if (rc <= 0) break; // 0: the filesystem was unmounted
        this.fuse.fuse_session_process_buf(se, buf);
        if (++served % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      clearInterval(watchdog);
      this.fuse.fuse_session_unmount(se);
      this.fuse.fuse_session_destroy(se);
      this.se = null;
      for (const cb of this.callbacks) cb.close();
      this.times?.write();
    }
  }

  /**
   * Tells the kernel to forget what it keeps of inode `ino` (its attributes, its pages or
   * its listing) after a change it did not make. Not from inside a request handler: the
   * kernel may wait on that request while it invalidates.
   */
  invalidate(ino: number): void {
    if (this.se === null) return;
    const r = this.fuse.fuse_lowlevel_notify_inval_inode(this.se, BigInt(ino), 0n, 0n);
    // ENOENT: the kernel holds no such inode, so keeps nothing of it.
    if (r !== 0 && r !== -Errno.ENOENT) this.log(`revfs: invalidating inode ${ino} failed: errno ${-r}`);
  }

  /** Makes `serve` return (and unmount) at its next turn. */
  exit(): void {
    this.stopping = true;
  }

  private checkWatchdog(): void {
    const now = Date.now();
    for (const [id, r] of this.inFlight) {
      if (now - r.since > WATCHDOG_MS) this.log(`revfs: request ${id} (${r.op}) unanswered for ${now - r.since} ms`);
    }
  }

  private errno(e: unknown, op: string): number {
    if (e instanceof FuseError) return e.errno;
    const n = this.handler.errnoOf?.(e);
    if (n !== undefined) return n;
    this.log(`revfs: ${op} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return Errno.EIO;
  }

  /** Runs a handler and replies exactly once, synchronously when the value is ready. */
  private serveRequest<T>(req: Ptr, op: string, run: () => T | Promise<T>, reply: (v: T) => void): void {
    let fail = (e: unknown) => {
      this.fuse.fuse_reply_err(req, this.errno(e, op));
    };
    const times = this.times;
    if (times) {
      // Failed requests count too, apart: a create's first request is a LOOKUP answered ENOENT.
      const t0 = performance.now();
      const untimedReply = reply;
      const untimedFail = fail;
      reply = (v) => {
        untimedReply(v);
        times.add(op, performance.now() - t0);
      };
      fail = (e) => {
        untimedFail(e);
        times.add(`${op} (error)`, performance.now() - t0);
      };
    }
    let out: T | Promise<T>;
    try {
      out = run();
    } catch (e) {
      fail(e);
      return;
    }
    if (!(out instanceof Promise)) {
      try {
        reply(out);
      } catch (e) {
        fail(e);
      }
      return;
    }
    const id = this.nextReq++;
    this.inFlight.set(id, { op, since: Date.now() });
    out.then((v) => {
      try {
        reply(v);
      } catch (e) {
        fail(e);
      }
    }, fail).finally(() => this.inFlight.delete(id));
  }
}
