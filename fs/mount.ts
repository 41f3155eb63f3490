/**
 * Mounting a store: check the mountpoint, take the store's writer lock, serve until
 * unmounted or signalled, and always leave no mount behind.
 */
import { RevfsError, Store } from "../mod.ts";
import { serveControl } from "./control.ts";
import { FuseSession } from "./fuse/session.ts";
import { RevfsFilesystem } from "./vfs.ts";

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
  store: Store;
  /** Resolves when the filesystem is unmounted and the store closed. */
  done: Promise<void>;
  unmount(): void;
}

/** Mounts `storePath` (created if missing) on `mountpoint` and starts serving. */
export async function mountStore(storePath: string, mountpoint: string): Promise<MountHandle> {
  const real = checkMountpoint(mountpoint);
  const store = await Store.openOrCreate(storePath);
  const orphans = store.head.sweepOrphans();
  if (orphans > 0) console.error(`revfs: freed ${orphans} files left open by a previous mount`);
  const session = new FuseSession(new RevfsFilesystem(store), {
    fsname: `revfs:${Deno.realPathSync(storePath)}`,
    options: ["auto_unmount"],
  });
  try {
    session.mount(real);
  } catch (e) {
    await store.close();
    throw new RevfsError("INVALID", `cannot mount on ${mountpoint}: ${(e as Error).message}`);
  }
  const control = serveControl({
    store,
    mountpoint: real,
    // Writes go to the head as they are answered; nothing is held back to flush yet.
    flush: () => Promise.resolve(),
    pendingRequests: () => session.pending,
  });
  const done = session.serve().finally(async () => {
    control.close();
    await store.flush();
    await store.close();
  });
  return { store, done, unmount: () => session.exit() };
}
