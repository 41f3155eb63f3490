/**
 * `export`: writes a revision (or the head) out to a local directory, beside it first
 * and then renamed into place, so the target is never half-written.
 */
import { setLocalMtime } from "./local_attrs.ts";
import type { NodeInfo, TreeView } from "../tree/tree_view.ts";
import { RevfsError, type SpecialType } from "../types.ts";
import { cPath, errno, lchown, libc, TYPE_BITS } from "../../sys/libc.ts";
import { localChild } from "../paths.ts";
import { writeLocalXattrs } from "./xattr_io.ts";

const SPECIAL_TYPES: ReadonlySet<string> = new Set<SpecialType>(["fifo", "socket", "chardev", "blockdev"]);
const EPERM = 1;

/** Makes a FIFO, socket or device node at `out`, as mknod(2) does (devices need root). */
function makeSpecial(out: string, info: NodeInfo & { type: SpecialType }): void {
  if (libc().mknod(cPath(out), TYPE_BITS[info.type] | (info.mode & 0o7777), BigInt(info.rdev ?? 0)) === 0) return;
  const e = errno();
  const why = e === EPERM ? "making a device node needs root" : `mknod failed (errno ${e})`;
  throw new RevfsError("INVALID", `cannot export ${out}: ${why}`);
}

function isSpecial(info: NodeInfo): info is NodeInfo & { type: SpecialType } {
  return SPECIAL_TYPES.has(info.type);
}

function isEmptyOrMissing(dir: string): boolean {
  try {
    const st = Deno.statSync(dir);
    if (!st.isDirectory) return false;
    for (const _ of Deno.readDirSync(dir)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

/**
 * Writes a tree into `dst`, which must be missing or empty. The
 * tree is written beside it and renamed into place, so `dst` is never half-written.
 */
export async function exportTree(
  view: TreeView,
  blockSize: number,
  dst: string,
  progress?: (done: number, total: number) => void,
): Promise<void> {
  if (!isEmptyOrMissing(dst)) {
    throw new RevfsError("NOT_EMPTY", `${dst} is not empty; export needs an empty or missing directory`);
  }
  const tmp = `${dst.replace(/\/+$/, "")}.revfs-export-${crypto.randomUUID().slice(0, 8)}`;
  const asRoot = Deno.uid() === 0;
  let total = 0;
  let done = 0;
  if (progress) {
    const counted = new Set<number>();
    const count = (p: string): void => {
      for (const [name, info] of view.list(p)) {
        if (info.linkId !== undefined && counted.has(info.linkId)) continue;
        if (info.linkId !== undefined) counted.add(info.linkId);
        if (info.type === "file") total += info.size;
        else if (info.type === "dir") count(p ? `${p}/${name}` : name);
      }
    };
    count("");
  }
  // The first path written of each hard-linked file: its other names link to it.
  const linked = new Map<number, string>();
  const writeNode = async (path: string, out: string) => {
    const info = view.stat(path);
    if (info.linkId !== undefined) {
      const first = linked.get(info.linkId);
      if (first !== undefined) {
        Deno.linkSync(first, out);
        return;
      }
      linked.set(info.linkId, out);
    }
    if (info.type === "symlink") {
      Deno.symlinkSync(info.target!, out);
      if (info.xattrs) writeLocalXattrs(out, info.xattrs);
      if (asRoot) lchown(out, info.uid, info.gid);
      setLocalMtime(out, info.mtimeNs);
      return;
    }
    if (info.type === "dir") {
      Deno.mkdirSync(out);
      for (const [name] of view.list(path)) await writeNode(path ? `${path}/${name}` : name, localChild(out, name));
    } else if (isSpecial(info)) {
      makeSpecial(out, info);
    } else {
      const f = await Deno.open(out, { write: true, create: true, truncate: true });
      try {
        for (const [idx, data] of view.blocks(path)) {
          await f.seek(idx * blockSize, Deno.SeekMode.Start);
          let off = 0;
          while (off < data.length) off += await f.write(data.subarray(off));
          done += data.length;
          progress?.(done, total);
        }
        await f.truncate(info.size);
      } catch (e) {
        // A damaged block names itself; say which file it belongs to.
        throw e instanceof RevfsError && e.path === undefined ? e.with({ path }) : e;
      } finally {
        f.close();
      }
    }
    // Before the mode: a read-only file takes no user.* attributes from its owner.
    if (info.xattrs) writeLocalXattrs(out, info.xattrs);
    if (asRoot) Deno.chownSync(out, info.uid, info.gid);
    Deno.chmodSync(out, info.mode);
    setLocalMtime(out, info.mtimeNs);
  };
  try {
    await writeNode("", tmp);
    try {
      Deno.removeSync(dst);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    Deno.renameSync(tmp, dst);
  } catch (e) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // nothing to clean
    }
    throw e;
  }
}
