/**
 * A writer for tests/write_log_test.ts that dies: random creates, mkdirs, writes,
 * truncates, renames and removes through the store's head and a page cache, applied
 * to a reference directory too, with fsyncs, writeouts and commits in between; then
 * every file and the namespace fsync'd (through the write log) and SIGKILL, so the
 * store must come back as the reference directory is.
 *
 * deno run -A tests/write_log_child.ts STORE REFERENCE SEED
 */
import { PageCache } from "../fs/page_cache.ts";
import { Store } from "../store/store.ts";
import { type Ino, ROOT_INO } from "../store/types.ts";
import { Rng } from "./helpers.ts";

const [storePath, ref, seedArg] = Deno.args;
const rng = new Rng(Number(seedArg));
const store = await Store.open(storePath, { write: true });
const cache = new PageCache(store, 64 * store.blockSize);
const inos = new Map<string, Ino>([["", ROOT_INO as Ino]]);
const files = () => [...inos.keys()].filter((p) => p !== "" && store.head.inode(inos.get(p)!)?.type === "file");
const dirs = () => [...inos.keys()].filter((p) => p === "" || store.head.inode(inos.get(p)!)?.type === "dir");
const split = (p: string): [string, string] => {
  const i = p.lastIndexOf("/");
  return i < 0 ? ["", p] : [p.slice(0, i), p.slice(i + 1)];
};
let counter = 0;
const fresh = () => {
  const d = rng.pick(dirs());
  return d ? `${d}/n${counter++}` : `n${counter++}`;
};
const size = (p: string) => Deno.statSync(`${ref}/${p}`).size;
const writeRef = (p: string, at: number, bytes: Uint8Array) => {
  const f = Deno.openSync(`${ref}/${p}`, { write: true });
  f.seekSync(at, Deno.SeekMode.Start);
  for (let o = 0; o < bytes.length;) o += f.writeSync(bytes.subarray(o));
  f.close();
};

for (let op = 0; op < 400; op++) {
  const r = rng.next();
  const fs = files();
  if (r < 0.1 || fs.length === 0) {
    const p = fresh();
    const [d, name] = split(p);
    const dir = r < 0.03;
    const node = store.head.create(inos.get(d)!, name, {
      type: dir ? "dir" : "file",
      mode: dir ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtimeNs: 0n,
    });
    inos.set(p, node.ino);
    if (dir) Deno.mkdirSync(`${ref}/${p}`);
    else Deno.writeFileSync(`${ref}/${p}`, new Uint8Array(0));
  } else if (r < 0.55) {
    const p = rng.pick(fs);
    const at = rng.int(size(p) + 2000);
    const bytes = rng.bytes(1 + rng.int(rng.chance(0.8) ? 3000 : 200_000), rng.chance(0.5) ? "text" : "binary");
    cache.write(inos.get(p)!, at, bytes);
    writeRef(p, at, bytes);
  } else if (r < 0.62) {
    const p = rng.pick(fs);
    const to = rng.int(size(p) + 1000);
    cache.beforeResize(inos.get(p)!, to);
    store.head.setattr(inos.get(p)!, { size: to });
    Deno.truncateSync(`${ref}/${p}`, to);
  } else if (r < 0.7) {
    const p = rng.pick(fs);
    const target = rng.chance(0.3) ? rng.pick(fs) : fresh();
    if (target === p || target.startsWith(`${p}/`)) continue;
    const [d, name] = split(p), [td, tname] = split(target);
    const replaced = inos.get(target);
    store.head.rename(inos.get(d)!, name, inos.get(td)!, tname);
    Deno.renameSync(`${ref}/${p}`, `${ref}/${target}`);
    inos.set(target, inos.get(p)!);
    inos.delete(p);
    if (replaced !== undefined && !store.head.inode(replaced)) cache.drop(replaced);
  } else if (r < 0.75) {
    const p = rng.pick(fs);
    const [d, name] = split(p);
    const ino = inos.get(p)!;
    store.head.remove(inos.get(d)!, name, false);
    Deno.removeSync(`${ref}/${p}`);
    inos.delete(p);
    if (!store.head.inode(ino)) cache.drop(ino);
  } else if (r < 0.8) {
    // A write committed at once (a library writer), to a file the cache holds nothing of.
    const p = rng.pick(fs);
    const ino = inos.get(p)!;
    if (cache.pending(ino) || cache.isLogged(ino)) continue;
    const at = rng.int(size(p) + 100);
    const bytes = rng.bytes(1 + rng.int(500), "text");
    store.head.write(ino, at, bytes);
    writeRef(p, at, bytes);
  } else if (r < 0.93) {
    cache.sync(rng.chance(0.8) ? inos.get(rng.pick(fs))! : ROOT_INO as Ino);
  } else if (r < 0.95) {
    cache.writeOutAll();
  } else {
    store.commit();
  }
}
// Everything durable through the log, none of it written out or committed.
for (const p of files()) cache.sync(inos.get(p)!);
cache.sync(ROOT_INO as Ino);
const s = cache.stats();
console.log(JSON.stringify({ logs: s.logs, writeouts: s.writeouts, pending: store.pendingChanges.count }));
Deno.kill(Deno.pid, "SIGKILL");
