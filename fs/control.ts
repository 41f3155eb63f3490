/**
 * The mount's control socket, STORE/control.sock (mode 0600): the CLI asks a running
 * mount to take a snapshot or report its state, since the mount holds the store's
 * writer lock. One JSON request line, one JSON reply line.
 */
import { RevfsError, type Store } from "../mod.ts";
import { loadLibc } from "./fuse/libfuse.ts";
import type { PageCacheStats } from "./page_cache.ts";

export const CONTROL_SOCKET = "control.sock";

export type ControlRequest =
  | { op: "snapshot"; message: string }
  | { op: "status" };

export interface MountStatus {
  store: string;
  mountpoint: string;
  pid: number;
  /** FUSE requests received and not yet answered. */
  pendingRequests: number;
  cache: PageCacheStats;
  /** Namespace changes made and not committed yet (group commit; see Store.changeLater). */
  uncommitted: { count: number; bytes: number };
  /** Wall time of the last snapshot taken through this socket (flush + commit), if any. */
  lastSnapshotMs?: number;
  /** Resident memory: anonymous (the process's own) and file-backed (LMDB's map, reclaimable). */
  memory: { rssAnonBytes: number; rssFileBytes: number; heapBytes: number; externalBytes: number };
}

export type ControlReply =
  | { ok: true; rev: number }
  | { ok: true; status: MountStatus }
  | { ok: false; error: string };

export interface ControlTarget {
  store: Store;
  mountpoint: string;
  /**
   * Called before a snapshot so the snapshot holds every write answered so far
   * (askMount has already made the kernel send what its writeback cache held).
   */
  flush(): Promise<void>;
  pendingRequests(): number;
  cacheStats(): PageCacheStats;
}

export function serveControl(t: ControlTarget): { close(): void } {
  const path = `${t.store.dir}/${CONTROL_SOCKET}`;
  try {
    Deno.removeSync(path);
  } catch {
    // no stale socket
  }
  // Bound under another name, made 0600, then renamed into place: the socket never
  // appears with the umask's mode, not even for a moment (a test once saw 0755).
  const bound = `${path}.${Deno.pid}`;
  const listener = Deno.listen({ transport: "unix", path: bound });
  try {
    Deno.chmodSync(bound, 0o600);
    Deno.renameSync(bound, path);
  } catch (e) {
    listener.close();
    Deno.removeSync(bound);
    throw e;
  }
  (async () => {
    const state: ControlState = {};
    for await (const conn of listener) handle(conn, t, state).catch(() => conn.close());
  })().catch(() => {});
  return {
    close() {
      listener.close();
      try {
        Deno.removeSync(path);
      } catch {
        // already gone
      }
    },
  };
}

interface ControlState {
  lastSnapshotMs?: number;
}

async function handle(conn: Deno.UnixConn, t: ControlTarget, state: ControlState): Promise<void> {
  const reader = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  let reply: ControlReply;
  try {
    const req = JSON.parse(text.split("\n")[0]) as ControlRequest;
    if (req.op === "snapshot") {
      const t0 = performance.now();
      await t.flush();
      const rev = t.store.snapshot(String(req.message ?? ""));
      await t.store.flush();
      state.lastSnapshotMs = performance.now() - t0;
      reply = { ok: true, rev: rev.rev };
    } else if (req.op === "status") {
      const m = Deno.memoryUsage();
      reply = {
        ok: true,
        status: {
          store: t.store.dir,
          mountpoint: t.mountpoint,
          pid: Deno.pid,
          pendingRequests: t.pendingRequests(),
          cache: t.cacheStats(),
          uncommitted: { ...t.store.pendingChanges },
          lastSnapshotMs: state.lastSnapshotMs,
          memory: { ...residentMemory(), heapBytes: m.heapUsed, externalBytes: m.external },
        },
      };
    } else reply = { ok: false, error: `unknown control request` };
  } catch (e) {
    reply = { ok: false, error: e instanceof RevfsError ? e.message : `internal error: ${(e as Error).message}` };
  }
  const w = conn.writable.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(reply) + "\n"));
  await w.close();
}

function residentMemory(): { rssAnonBytes: number; rssFileBytes: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) * 1024;
  return { rssAnonBytes: kb("RssAnon"), rssFileBytes: kb("RssFile") };
}

/**
 * Makes the kernel hand the mount every write() it holds in its writeback cache, so a
 * snapshot holds every write that returned before it was asked for. The client does
 * this, not the mount: a mount thread blocked on its own mountpoint keeps a killed
 * mount from ever exiting (seen: a zombie holding the mount until its connection was
 * aborted by hand). Best effort: a dead mount fails here and again at the socket.
 */
function syncMountOf(storeDir: string): void {
  let real: string;
  try {
    real = Deno.realPathSync(storeDir);
  } catch {
    return;
  }
  const m = runningMounts().find((m) => m.store === real);
  if (!m) return;
  const O_RDONLY = 0, O_DIRECTORY = 0o200000, O_CLOEXEC = 0o2000000;
  const libc = loadLibc();
  const fd = libc.open(new TextEncoder().encode(m.mountpoint + "\0"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  libc.syncfs(fd);
  libc.close(fd);
}

/** Sends one request to the mount serving `storeDir`; undefined when none listens. */
export async function askMount(storeDir: string, req: ControlRequest): Promise<ControlReply | undefined> {
  if (req.op === "snapshot") syncMountOf(storeDir);
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: `${storeDir}/${CONTROL_SOCKET}` });
  } catch {
    return undefined;
  }
  try {
    const w = conn.writable.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify(req) + "\n"));
    w.releaseLock();
    return JSON.parse(await new Response(conn.readable).text()) as ControlReply;
  } catch (e) {
    // Not the CLI's own stdout closing: the mount went away mid-request.
    throw new RevfsError("INVALID", `the mount serving ${storeDir} stopped before answering (${(e as Error).message})`);
  }
}

/** Running revfs mounts, from /proc/mounts: mountpoint and store directory. */
export function runningMounts(): { mountpoint: string; store: string }[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return Deno.readTextFileSync("/proc/mounts").split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "fuse.revfs" && f[0].startsWith("revfs:"))
    .map((f) => ({ mountpoint: unescape(f[1]), store: unescape(f[0].slice("revfs:".length)) }));
}
