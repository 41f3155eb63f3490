/**
 * The revfs command line. A thin layer over mod.ts: parse, call, print. Errors are
 * one line on stderr and a non-zero exit; nothing is written on error.
 */
import { type Args, flag, parseArgs } from "./cli/args.ts";
import { humanBytes, progressBar } from "./cli/progress.ts";
import { runningMounts as runningMountsSync } from "./fs/control.ts";
import {
  type Change,
  exportTree,
  fileChunks,
  importDir,
  type NodeInfo,
  restorePath,
  RevfsError,
  type RevNumber,
  Store,
} from "./mod.ts";

const USAGE = `usage: revfs COMMAND ...

  mount STORE MOUNTPOINT              mount the store (created if missing); stays in the foreground
        [--cache-mb N]                block cache memory in MiB, clean and dirty (default 256)
        [--allow-other]               let other users in (permission bits still apply); default: only you
  unmount MOUNTPOINT                  unmount a running revfs mount
  init STORE [--block-size BYTES]     create an empty store
  import STORE DIR [-m MSG]           make the head equal to DIR and snapshot it
  export STORE REV DIR                write revision REV into an empty or new DIR
  snapshot [STORE] [-m MSG]           checkpoint the head (asks a running mount); prints the revision number
  log STORE [--json]                  list revisions, newest first
  ls STORE [PATH] [--rev REV]         list a directory (default: the head)
  cat STORE PATH [--rev REV]          write a file to stdout (default: the head)
  diff STORE REV1 REV2                paths that differ: A added, D deleted, M modified, T type changed
  restore STORE PATH --rev REV        copy PATH as it was in REV into the head
  tag STORE NAME [REV]                name a revision (default: the latest)
  tag STORE --delete NAME             remove a tag
  drop STORE REV                      remove a revision (gc frees its space)
  gc STORE                            free records no revision or the head uses
  stats STORE [--json]                sizes and counts, and a running mount's memory
  optimize STORE                      train zstd dictionaries on the store's blocks and re-encode with them
  verify STORE                        check every record of every revision

REV is a revision number, a tag, or head.`;

class UsageError extends Error {}

const CAT_BUFFER = 64 << 20;

function need(args: Args, n: number, what: string): void {
  if (args.positional.length < n) throw new UsageError(`missing ${what}`);
}

function atMost(args: Args, n: number): void {
  if (args.positional.length > n) throw new UsageError(`unexpected argument ${args.positional[n]}`);
}

const enc = new TextEncoder();
function out(line: string): void {
  Deno.stdout.writeSync(enc.encode(line + "\n"));
}

async function withStore<T>(path: string, write: boolean, fn: (s: Store) => T | Promise<T>): Promise<T> {
  const store = await Store.open(path, { write });
  try {
    const result = await fn(store);
    if (write) await store.flush();
    return result;
  } finally {
    await store.close();
  }
}

function revNumber(store: Store, spec: string): RevNumber {
  const r = store.resolve(spec);
  if (r === "head") throw new RevfsError("INVALID", `${spec} is not a revision here; name a number or a tag`);
  return r;
}

function modeString(info: NodeInfo): string {
  const t = info.type === "dir" ? "d" : info.type === "symlink" ? "l" : "-";
  const bits = "rwxrwxrwx";
  let s = t;
  for (let i = 0; i < 9; i++) s += info.mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace("T", " ").slice(0, 19);
}

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  async mount(argv) {
    const a = parseArgs(argv, ["--cache-mb", "--allow-other"]);
    need(a, 2, "STORE MOUNTPOINT");
    atMost(a, 2);
    const mb = flag(a, "--cache-mb");
    if (mb !== undefined && !/^[1-9][0-9]*$/.test(mb)) {
      throw new RevfsError("INVALID", `--cache-mb takes a whole number of MiB, not ${JSON.stringify(mb)}`);
    }
    const { mountStore } = await import("./fs/mount.ts");
    const m = await mountStore(a.positional[0], a.positional[1], {
      cacheBytes: mb === undefined ? undefined : Number(mb) * 1024 * 1024,
      allowOther: a.flags.has("--allow-other"),
    });
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => m.unmount());
    console.error(`revfs: ${a.positional[0]} mounted on ${a.positional[1]} (Ctrl-C or revfs unmount to stop)`);
    await m.done;
    return 0;
  },

  async unmount(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "MOUNTPOINT");
    atMost(a, 1);
    const r = await new Deno.Command("fusermount3", { args: ["-u", a.positional[0]], stderr: "piped" }).output();
    if (r.code !== 0) {
      const why = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? "";
      throw new RevfsError("INVALID", `cannot unmount ${a.positional[0]}: ${why.replace(/^fusermount3: /, "")}`);
    }
    return 0;
  },

  async init(argv) {
    const a = parseArgs(argv, ["--block-size"]);
    need(a, 1, "STORE");
    atMost(a, 1);
    const bs = flag(a, "--block-size");
    const store = await Store.init(a.positional[0], { blockSize: bs === undefined ? undefined : Number(bs) });
    await store.close();
    console.error(`revfs: created store ${a.positional[0]} (block size ${humanBytes(store.blockSize)})`);
    return 0;
  },

  async import(argv) {
    const a = parseArgs(argv, ["--message"]);
    need(a, 2, "STORE DIR");
    atMost(a, 2);
    const [storePath, dir] = a.positional;
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(dir);
    } catch {
      throw new RevfsError("NO_SUCH_PATH", `${dir} does not exist`);
    }
    if (!st.isDirectory) throw new RevfsError("NOT_A_DIR", `${dir} is not a directory`);
    const store = await Store.openOrCreate(storePath);
    try {
      const bar = progressBar("import", "bytes");
      const rev = await importDir(store, dir, flag(a, "--message") ?? "", bar.update);
      bar.done();
      await store.flush();
      out(String(rev.rev));
    } finally {
      await store.close();
    }
    return 0;
  },

  async export(argv) {
    const a = parseArgs(argv, []);
    need(a, 3, "STORE REV DIR");
    atMost(a, 3);
    const [storePath, spec, dir] = a.positional;
    await withStore(storePath, false, async (s) => {
      const bar = progressBar("export", "bytes");
      await exportTree(s, s.resolve(spec), dir, bar.update);
      bar.done();
    });
    return 0;
  },

  async snapshot(argv) {
    const a = parseArgs(argv, ["--message"]);
    atMost(a, 1);
    const { askMount } = await import("./fs/control.ts");
    const storeDir = findStore(a.positional[0]);
    const message = flag(a, "--message") ?? "";
    const reply = await askMount(storeDir, { op: "snapshot", message });
    if (reply) {
      if (!reply.ok) throw new RevfsError("INVALID", reply.error);
      if (!("rev" in reply)) throw new RevfsError("INVALID", "the mount gave no revision number");
      out(String(reply.rev));
      return 0;
    }
    const rev = await withStore(storeDir, true, (s) => s.snapshot(message));
    out(String(rev.rev));
    return 0;
  },

  async log(argv) {
    const a = parseArgs(argv, ["--json"]);
    need(a, 1, "STORE");
    atMost(a, 1);
    await withStore(a.positional[0], false, (s) => {
      const revs = [...s.log.all()].reverse();
      if (a.flags.has("--json")) {
        out(JSON.stringify(revs.map((r) => ({
          rev: r.rev,
          parent: r.parent || null,
          time: new Date(r.timeMs).toISOString(),
          message: r.message,
          tags: s.log.tagsOf(r.rev),
          bytes: r.root.size,
        }))));
        return;
      }
      for (const r of revs) {
        const tags = s.log.tagsOf(r.rev);
        const when = new Date(r.timeMs).toISOString().replace("T", " ").slice(0, 19);
        out(
          `${String(r.rev).padStart(5)}  ${when}  ${humanBytes(r.root.size).padStart(10)}  ${
            tags.length ? `(${tags.join(", ")}) ` : ""
          }${r.message}`,
        );
      }
    });
    return 0;
  },

  async ls(argv) {
    const a = parseArgs(argv, ["--rev"]);
    need(a, 1, "STORE");
    atMost(a, 2);
    const [storePath, path = ""] = a.positional;
    await withStore(storePath, false, (s) => {
      const view = s.view(s.resolve(flag(a, "--rev") ?? "head"));
      const info = view.stat(path);
      const rows: [string, NodeInfo][] = info.type === "dir" ? view.list(path) : [[path, info]];
      for (const [name, i] of rows) {
        const shown = i.type === "dir" ? `${name}/` : i.type === "symlink" ? `${name} -> ${i.target}` : name;
        out(`${modeString(i)}  ${String(i.size).padStart(12)}  ${isoTime(i.mtimeNs)}  ${shown}`);
      }
    });
    return 0;
  },

  async cat(argv) {
    const a = parseArgs(argv, ["--rev"]);
    need(a, 2, "STORE PATH");
    atMost(a, 2);
    const [storePath, path] = a.positional;
    await withStore(storePath, false, async (s) => {
      const view = s.view(s.resolve(flag(a, "--rev") ?? "head"));
      const info = view.stat(path);
      if (info.type !== "file") {
        throw new RevfsError(
          "IS_A_DIR",
          `${path} is a ${info.type === "dir" ? "directory" : "symlink"} in ${view.label}`,
        );
      }
      // Hold back the first CAT_BUFFER bytes, so that a damaged block in a file of
      // up to that size fails with nothing written.
      const held: Uint8Array[] = [];
      let heldBytes = 0;
      const w = Deno.stdout.writable.getWriter();
      try {
        for (const chunk of fileChunks(view, path, s.blockSize)) {
          if (heldBytes < CAT_BUFFER) {
            held.push(chunk.slice());
            heldBytes += chunk.length;
            continue;
          }
          for (const c of held.splice(0)) await w.write(c);
          await w.write(chunk);
        }
        for (const c of held) await w.write(c);
      } finally {
        w.releaseLock();
      }
    });
    return 0;
  },

  async diff(argv) {
    const a = parseArgs(argv, []);
    need(a, 3, "STORE REV1 REV2");
    atMost(a, 3);
    const [storePath, r1, r2] = a.positional;
    await withStore(storePath, false, (s) => {
      const letter: Record<Change["kind"], string> = { added: "A", deleted: "D", modified: "M", "type-changed": "T" };
      for (const c of s.diff(revNumber(s, r1), revNumber(s, r2))) out(`${letter[c.kind]}  ${c.path}`);
    });
    return 0;
  },

  async restore(argv) {
    const a = parseArgs(argv, ["--rev"]);
    need(a, 2, "STORE PATH");
    atMost(a, 2);
    const spec = flag(a, "--rev");
    if (spec === undefined) throw new UsageError("restore needs --rev REV");
    const [storePath, path] = a.positional;
    await withStore(storePath, true, (s) => restorePath(s, path, revNumber(s, spec)));
    console.error(`revfs: restored ${path} from revision ${spec} into the head`);
    return 0;
  },

  async tag(argv) {
    const a = parseArgs(argv, ["--delete"]);
    need(a, 2, "STORE NAME");
    atMost(a, 3);
    const [storePath, name, spec] = a.positional;
    await withStore(storePath, true, (s) => {
      if (a.flags.has("--delete")) {
        if (spec !== undefined) throw new UsageError("tag --delete takes only NAME");
        s.untag(name);
        return;
      }
      const rev = spec !== undefined ? revNumber(s, spec) : s.log.latest()?.rev;
      if (rev === undefined) throw new RevfsError("UNKNOWN_REV", "the store has no revision to tag yet");
      s.tag(name, rev);
    });
    return 0;
  },

  async drop(argv) {
    const a = parseArgs(argv, []);
    need(a, 2, "STORE REV");
    atMost(a, 2);
    await withStore(a.positional[0], true, (s) => s.drop(revNumber(s, a.positional[1])));
    return 0;
  },

  async gc(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "STORE");
    atMost(a, 1);
    const r = await withStore(a.positional[0], true, (s) => {
      const bar = progressBar("gc", "items");
      const result = s.gc(bar.update);
      bar.done();
      return result;
    });
    console.error(
      `revfs: removed ${r.blocksRemoved} blocks and ${r.pagesRemoved} pages, ${humanBytes(r.bytesFreed)} of records` +
        (r.storedWhole > 0 ? `; stored ${r.storedWhole} deltas whole (their base went away)` : ""),
    );
    return 0;
  },

  async stats(argv) {
    const a = parseArgs(argv, ["--json"]);
    need(a, 1, "STORE");
    atMost(a, 1);
    const storeDir = findStore(a.positional[0]);
    const st = await withStore(storeDir, false, (s) => s.stats());
    const { askMount } = await import("./fs/control.ts");
    const reply = await askMount(storeDir, { op: "status" });
    const mount = reply?.ok && "status" in reply ? reply.status : undefined;
    if (a.flags.has("--json")) {
      out(JSON.stringify(mount ? { ...st, mount } : st));
      return 0;
    }
    // Logical bytes count revisions only: with none yet, a ratio would read 0.00 beside a full head.
    const ratio = st.storedBytes > 0 && st.logicalBytes > 0 ? (st.logicalBytes / st.storedBytes).toFixed(2) : "-";
    out(`revisions      ${st.revisions} (${st.tags} tags)`);
    out(`block size     ${humanBytes(st.blockSize)}`);
    out(`logical bytes  ${humanBytes(st.logicalBytes)} over all revisions`);
    out(`head bytes     ${humanBytes(st.headBytes)}`);
    out(`unique blocks  ${st.uniqueBlocks}`);
    out(`delta records  ${st.deltaRecords} (${humanBytes(st.deltaBytes)}; longest chain ${st.maxChainDepth})`);
    for (const d of st.dictionaries) {
      const kind = d.kind === "*" ? "whole store" : d.kind === "" ? "files without extension" : `.${d.kind}`;
      out(`dictionary ${d.id}   ${kind}: ${humanBytes(d.size)}, ${d.blocks} blocks, saved ${humanBytes(d.bytesSaved)}`);
    }
    out(`tree pages     ${st.pages}`);
    out(`stored bytes   ${humanBytes(st.storedBytes)} (logical/stored ${ratio})`);
    out(`on disk        ${humanBytes(st.fileBytes)}`);
    if (mount) {
      const c = mount.cache;
      out(`mounted on     ${mount.mountpoint} (pid ${mount.pid})`);
      out(
        `  cache        ${humanBytes(c.cachedBytes)} clean + ${humanBytes(c.dirtyBytes)} dirty of ${
          humanBytes(c.budgetBytes)
        } (${c.dirtyFiles} files unwritten)`,
      );
      out(`  in flight    ${mount.pendingRequests} requests, ${c.loadsInFlight} block loads`);
      const u = mount.uncommitted;
      out(`  uncommitted  ${u.count} namespace records (${humanBytes(u.bytes)}), committed within 5 s or at fsync`);
      out(
        `  loads        ${c.loads} on loader threads (${c.readaheadLoads} ahead of reads, ${c.sharedLoads} shared), ${c.misses} on the request thread`,
      );
      const mem = mount.memory;
      out(
        `  memory       ${humanBytes(mem.rssAnonBytes)} resident (+ ${humanBytes(mem.rssFileBytes)} of mapped store)`,
      );
    }
    return 0;
  },

  async optimize(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "STORE");
    atMost(a, 1);
    const r = await withStore(a.positional[0], true, (s) => {
      const before = s.stats().storedBytes;
      const bar = progressBar("optimize", "items");
      const result = s.optimize(bar.update, (line) => console.error(`revfs: ${line}`));
      bar.done();
      return { result, before };
    });
    const { result } = r;
    if (!result.trainer) {
      console.error("revfs: no dictionary trainer here (needs the system libzstd.so.1); the store is unchanged");
      return 0;
    }
    const trained = result.trained.map((d) => `${d.kind === "*" ? "store" : `.${d.kind}`} ${humanBytes(d.bytes)}`);
    console.error(
      `revfs: ${
        trained.length ? `trained ${trained.length} dictionaries (${trained.join(", ")})` : "no new dictionaries"
      }` +
        (result.reused ? `, reused ${result.reused}` : "") +
        `; re-encoded ${result.recompressed} of ${result.blocks} blocks, saved ${humanBytes(result.bytesSaved)}` +
        (r.before > 0 ? ` (${(100 * result.bytesSaved / r.before).toFixed(1)}% of stored bytes)` : ""),
    );
    return 0;
  },

  async verify(argv) {
    const a = parseArgs(argv, []);
    need(a, 1, "STORE");
    atMost(a, 1);
    const report = await withStore(a.positional[0], false, (s) => {
      const bar = progressBar("verify", "items");
      const r = s.verify(bar.update);
      bar.done();
      return r;
    });
    for (const p of report.problems) console.error(`revfs: ${p}`);
    const summary = `${report.revisions} revisions, ${report.pages} pages, ${report.blocks} blocks`;
    if (report.problems.length > 0) {
      console.error(`revfs: verify failed: ${report.problems.length} problems in ${summary}`);
      return 1;
    }
    out(`ok: ${summary} verified`);
    return 0;
  },
};

/**
 * The store a command means: STORE as given (a store directory or a revfs
 * mountpoint), else the mount containing the current directory, else the only
 * running mount.
 */
function findStore(given: string | undefined): string {
  const mounts = runningMountsSync();
  if (given !== undefined) {
    let real = given;
    try {
      real = Deno.realPathSync(given);
    } catch {
      return given;
    }
    return mounts.find((m) => m.mountpoint === real)?.store ?? given;
  }
  const cwd = Deno.cwd();
  const inside = mounts.filter((m) => cwd === m.mountpoint || cwd.startsWith(m.mountpoint + "/"));
  if (inside.length > 0) return inside.sort((x, y) => y.mountpoint.length - x.mountpoint.length)[0].store;
  if (mounts.length === 1) return mounts[0].store;
  if (mounts.length === 0) throw new RevfsError("INVALID", "no STORE given and no revfs mount is running");
  throw new RevfsError(
    "INVALID",
    `no STORE given and ${mounts.length} revfs mounts are running; name one: ${
      mounts.map((m) => m.mountpoint).join(", ")
    }`,
  );
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    (cmd === undefined ? console.error : console.log)(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const run = commands[cmd];
  if (!run) {
    console.error(`revfs: unknown command ${JSON.stringify(cmd)} (run revfs help)`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`revfs ${cmd}: ${e.message} (run revfs help)`);
      return 2;
    }
    if (e instanceof RevfsError) {
      console.error(`revfs: ${e.message}`);
      return 1;
    }
    if (e instanceof Deno.errors.BrokenPipe) return 0;
    console.error(`revfs: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return 70;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
