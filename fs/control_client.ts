/**
 * The client side of a mount's control socket (fs/control.ts): the protocol, finding
 * running mounts, and asking one for a snapshot or its status.
 */
import { RevfsError } from "../store/types.ts";
import { syncFilesystemOf } from "../sys/libc.ts";
import type { PageCacheStats } from "./page_cache_stats.ts";

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
  /** Namespace changes made and not committed yet (group commit; see HeadApi). */
  uncommitted: { count: number; bytes: number };
  /** Wall time of the last snapshot taken through this socket (flush + commit), if any. */
  lastSnapshotMs?: number;
  /** Wall time of the work that snapshot left for after its reply (its reverse deltas), if any. */
  lastAfterSnapshotMs?: number;
  /**
   * Resident memory: anonymous (the process's own) and file-backed (LMDB's map, reclaimable);
   * V8's heap and ArrayBuffers; the looks at it after the cache dropped buffers, and the collections
   * they asked for, with their time (fs/memory_release.ts).
   */
  memory: {
    rssAnonBytes: number;
    rssFileBytes: number;
    heapBytes: number;
    externalBytes: number;
    looks: number;
    collections: number;
    collectMs: number;
  };
}

export type ControlReply =
  | { ok: true; rev: number }
  | { ok: true; status: MountStatus }
  | { ok: false; error: string };

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
  if (m) syncFilesystemOf(m.mountpoint);
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
    // Plain reads and writes: web streams and Response cost a CLI run 8 ms to load.
    const line = new TextEncoder().encode(JSON.stringify(req) + "\n");
    for (let at = 0; at < line.length;) at += await conn.write(line.subarray(at));
    return JSON.parse(new TextDecoder().decode(await readAll(conn))) as ControlReply;
  } catch (e) {
    // Not the CLI's own stdout closing: the mount went away mid-request.
    throw new RevfsError("INVALID", `the mount serving ${storeDir} stopped before answering (${(e as Error).message})`);
  } finally {
    conn.close();
  }
}

/** Everything `conn` sends until it closes. */
async function readAll(conn: Deno.UnixConn): Promise<Uint8Array> {
  let buf = new Uint8Array(4096);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const got = await conn.read(buf.subarray(n));
    if (got === null) return buf.subarray(0, n);
    n += got;
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
