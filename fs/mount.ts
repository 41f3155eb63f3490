/**
 * Mounting a store: check the mountpoint, take the store's writer lock, serve until
 * unmounted or signalled, and always leave no mount behind.
 */
import { openOrCreateStore, RevfsError, type VersionedStore } from "../mod.ts";
import { BlockLoader } from "./block_loader.ts";
import { serveControl } from "./control.ts";
import { chooseWaitBusyUs } from "./fuse/request_wait.ts";
import { FuseSession } from "./fuse/session.ts";
import { MemoryRelease } from "./memory_release.ts";
import { libc } from "../sys/libc.ts";
import { DEFAULT_CACHE_BYTES, PageCache } from "./page_cache.ts";
import { RevfsFilesystem } from "./vfs.ts";

/**
 * Makes freed buffers go back to the system: block-sized and larger allocations get
 * their own mappings, so the mount's resident memory follows what the cache holds
 * instead of what glibc's heaps once grew to (measured: 250 MB resident for a 32 MiB
 * cache after a 512 MiB write without this, 100 MB with it).
 */
function tuneMalloc(blockSize: number): void {
  const M_MMAP_THRESHOLD = -3, M_ARENA_MAX = -8;
  const c = libc();
  c.mallopt(M_MMAP_THRESHOLD, blockSize);
  c.mallopt(M_ARENA_MAX, 2);
}

/**
 * Unwritten data and pending namespace changes are committed at least this often (the
 * kernel's dirty writeback is 30 s).
 */
const WRITEBACK_MS = 5000;

export interface MountOptions {
  /** Memory for the block page cache, clean and dirty, in bytes. */
  cacheBytes?: number;
  /**
   * Let users other than the one mounting in (FUSE's allow_other). Permission bits are
   * enforced by the kernel either way (default_permissions).
   */
  allowOther?: boolean;
  /** Serve extended attributes (off by default: they cost a round trip per write; fs/fuse/op_table.ts). */
  xattrs?: boolean;
  /** Check every block read against its SHA-256 name, not only its record's checksum. */
  verifyReads?: boolean;
  /** Microseconds to wait busy for the next request; default REVFS_WAIT_BUSY_US, else by kernel (fs/fuse/request_wait.ts). */
  waitBusyUs?: number;
}

/**
 * The kernel's readahead window for the mount, in KiB. FUSE starts every mount at the
 * 128 KiB default and lets a filesystem only lower it. Requests are served one at a
 * time here, so a deeper window is what keeps the kernel's next requests queued while
 * one is answered: cold sequential reads by hand, 256 MiB, medians of 2-4: 128 KiB
 * 343-359 MB/s, 1 MiB 382, 2 MiB 413-458, 4 MiB 465-554, 8 MiB no better.
 */
export const READAHEAD_KB = 4096;

/**
 * Sets the mount's readahead window (its bdi in sysfs, which only root may write), after
 * the init reply (which sets it to at most what the kernel offered); else leaves it.
 */
function widenReadahead(mountpoint: string): void {
  // From mountinfo, not stat(): a stat of the mountpoint would wait on this thread's own FUSE loop.
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    if (f[4]?.replace(/\\040/g, " ") !== mountpoint) continue;
    try {
      Deno.writeTextFileSync(`/sys/class/bdi/${f[2]}/read_ahead_kb`, String(READAHEAD_KB));
    } catch {
      // Not root: the kernel's default window, slower for long sequential reads only.
    }
  }
}

function mountedPaths(): string[] {
  return Deno.readTextFileSync("/proc/mounts").split("\n").map((l) => l.split(" ")[1]).filter(Boolean)
    .map((p) => p.replace(/\\040/g, " "));
}

function checkMountpoint(mountpoint: string): string {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(mountpoint);
  } catch {
    throw new RevfsError("NO_SUCH_PATH", `mountpoint ${mountpoint} does not exist`);
  }
  if (!st.isDirectory) throw new RevfsError("NOT_A_DIR", `mountpoint ${mountpoint} is not a directory`);
  const real = Deno.realPathSync(mountpoint);
  if (mountedPaths().includes(real)) throw new RevfsError("EXISTS", `${mountpoint} is already a mountpoint`);
  for (const _ of Deno.readDirSync(real)) throw new RevfsError("NOT_EMPTY", `mountpoint ${mountpoint} is not empty`);
  return real;
}

export interface MountHandle {
  store: VersionedStore;
  /** Resolves when the filesystem is unmounted and the store closed. */
  done: Promise<void>;
  unmount(): void;
}

/** Mounts `storePath` (created if missing) on `mountpoint` and starts serving. */
export async function mountStore(storePath: string, mountpoint: string, opts: MountOptions = {}): Promise<MountHandle> {
  const real = checkMountpoint(mountpoint);
  const waitBusyUs = opts.waitBusyUs ?? chooseWaitBusyUs(); // a bad value is refused before the store is made
  const verifyReads = opts.verifyReads ?? false;
  const store = await openOrCreateStore(storePath, { verifyReads });
  let cache: PageCache;
  let loader: BlockLoader;
  const cacheBytes = opts.cacheBytes ?? DEFAULT_CACHE_BYTES;
  const release = new MemoryRelease(cacheBytes);
  try {
    loader = await BlockLoader.start(store.dir, { verifyReads });
    try {
      cache = new PageCache(store, cacheBytes, loader, release);
    } catch (e) {
      await loader.close();
      throw e;
    }
  } catch (e) {
    await store.close();
    throw e;
  }
  tuneMalloc(store.blockSize);
  const orphans = store.head.sweepOrphans();
  if (orphans > 0) console.error(`revfs: freed ${orphans} files left open by a previous mount`);
  const fs = new RevfsFilesystem(store, cache, { acls: opts.xattrs });
  const session = new FuseSession(fs, {
    fsname: `revfs:${Deno.realPathSync(storePath)}`,
    options: ["auto_unmount", ...(opts.allowOther ? ["allow_other"] : [])],
    xattrs: opts.xattrs,
    waitBusyUs,
    onInit: () => widenReadahead(real),
  });
  // Reads of history decode delta chains on a second loader thread: a store with history
  // starts it ahead of the first such read (1 s after mounting, or after a snapshot).
  const prepareForHistory = () => {
    if ((store.latest()?.rev ?? 0) >= 2) loader.prepare();
  };
  // The control socket is up before the mount appears: whoever sees the mount can snapshot it.
  let control: { close(): void };
  try {
    control = serveControl({
      store,
      mountpoint: real,
      snapshot: (message) => cache.snapshot(message),
      pendingRequests: () => session.pending,
      cacheStats: () => cache.stats(),
      releaseStats: () => release.stats,
      revisionAdded: () => session.invalidate(fs.revisionsChanged()),
      snapshotted: () => {
        prepareForHistory();
        try {
          store.makeLaterDeltas();
        } catch (e) {
          // Only space: the versions they were for stay whole (`optimize` tries again).
          console.error(`revfs: making a snapshot's deltas failed: ${(e as Error).message}`);
        }
      },
    });
  } catch (e) {
    await loader.close();
    await store.close();
    throw e;
  }
  try {
    session.mount(real);
  } catch (e) {
    control.close();
    await loader.close();
    await store.close();
    throw new RevfsError("INVALID", `cannot mount on ${mountpoint}: ${(e as Error).message}`);
  }
  const prepareTimer = setTimeout(prepareForHistory, 1000);
  const writeback = setInterval(() => {
    try {
      cache.writeOutAll();
      store.commit();
    } catch (e) {
      console.error(`revfs: writeback failed, will retry: ${(e as Error).message}`);
    }
    libc().malloc_trim(0n);
  }, WRITEBACK_MS);
  const done = session.serve().finally(async () => {
    clearInterval(writeback);
    release.close();
    clearTimeout(prepareTimer);
    control.close();
    try {
      cache.writeOutAll();
    } finally {
      await loader.close();
      await store.flush();
      await store.close();
    }
  });
  return { store, done, unmount: () => session.exit() };
}
