/**
 * The mount's control socket, STORE/control.sock (mode 0600): the CLI asks a running
 * mount to take a snapshot or report its state, since the mount holds the store's
 * writer lock. One JSON request line, one JSON reply line.
 */
import { RevfsError, type Revision, type VersionedStore } from "../mod.ts";
import type { MemoryReleaseStats } from "./memory_release.ts";
import type { PageCacheStats } from "./page_cache_stats.ts";
import { CONTROL_SOCKET, type ControlReply, type ControlRequest } from "./control_client.ts";
import { residentMemory } from "../sys/resident_memory.ts";

export interface ControlTarget {
  store: VersionedStore;
  mountpoint: string;
  /**
   * Takes a snapshot holding every write answered so far (askMount has already made the
   * kernel send what its writeback cache held).
   */
  snapshot(message: string): Revision;
  pendingRequests(): number;
  cacheStats(): PageCacheStats;
  /** Looks at the memory and collections after the cache dropped buffers (fs/memory_release.ts). */
  releaseStats(): MemoryReleaseStats;
  /** Called once a snapshot is durable, before the reply: what shows it must show it then. */
  revisionAdded?(): void;
  /**
   * Called after a snapshot has been taken and replied to: the work it left for later.
   * Requests that come after wait for it, so a `stats` sees it done.
   */
  snapshotted?(): void;
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
    for await (const conn of listener) {
      handle(conn, t, state).catch(() => {
        try {
          conn.close();
        } catch {
          // closed already
        }
      });
    }
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
  lastAfterSnapshotMs?: number;
  /** Settles when the last snapshot's `snapshotted` has run. */
  afterSnapshot?: Promise<void>;
}

/** A request line is small; one longer than this is not a request. */
const REQUEST_MAX = 64 * 1024;

/**
 * The request line: plain reads, as the client's (control_client.ts). Through web
 * streams, the mount's first snapshot also loaded and compiled Deno's streams code, 3-4
 * ms of the 12 ms of work it took the mount (the next ones: 2-3 ms; by profile).
 */
async function readRequest(conn: Deno.UnixConn): Promise<string> {
  const buf = new Uint8Array(REQUEST_MAX);
  let n = 0;
  while (n < buf.length) {
    const got = await conn.read(buf.subarray(n));
    if (got === null) break;
    const end = buf.subarray(n, n + got).indexOf(0x0a);
    n += got;
    if (end >= 0) break;
  }
  return new TextDecoder().decode(buf.subarray(0, n)).split("\n")[0];
}

async function handle(conn: Deno.UnixConn, t: ControlTarget, state: ControlState): Promise<void> {
  const text = await readRequest(conn);
  await state.afterSnapshot;
  let reply: ControlReply;
  try {
    const req = JSON.parse(text) as ControlRequest;
    if (req.op === "snapshot") {
      const t0 = performance.now();
      const rev = t.snapshot(String(req.message ?? ""));
      await t.store.flush();
      t.revisionAdded?.();
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
          lastAfterSnapshotMs: state.lastAfterSnapshotMs,
          memory: { ...residentMemory(), heapBytes: m.heapUsed, externalBytes: m.external, ...t.releaseStats() },
        },
      };
    } else reply = { ok: false, error: `unknown control request` };
  } catch (e) {
    reply = { ok: false, error: e instanceof RevfsError ? e.message : `internal error: ${(e as Error).message}` };
  }
  const line = new TextEncoder().encode(JSON.stringify(reply) + "\n");
  if (!(reply.ok && "rev" in reply)) {
    await writeReply(conn, line);
    return;
  }
  let settled = () => {};
  state.afterSnapshot = new Promise((resolve) => settled = resolve);
  try {
    await writeReply(conn, line);
  } finally {
    const t0 = performance.now();
    try {
      t.snapshotted?.();
    } finally {
      state.lastAfterSnapshotMs = performance.now() - t0;
      settled();
    }
  }
}

async function writeReply(conn: Deno.UnixConn, line: Uint8Array): Promise<void> {
  try {
    for (let at = 0; at < line.length;) at += await conn.write(line.subarray(at));
  } finally {
    conn.close();
  }
}
