/**
 * The crash test: a workload writes, overwrites, truncates, renames and deletes files
 * through a real mount, fsyncs some and takes snapshots, while the mount process is
 * killed with SIGKILL at a random moment. After each kill the dead mount is cleared,
 * `verify` must pass, and on remount:
 * - every snapshot the workload was told about is byte-identical to the model as it
 *   was then (a snapshot whose reply was lost may exist too, and must match as well);
 * - every file fsync'd and not touched since holds exactly its fsync'd content.
 * The next round goes on from the state the remount shows, on the same store.
 *
 * Used by tests/crash_test.ts (a few rounds) and `deno task soak` (hundreds).
 */
import { join } from "node:path";
import { askMount } from "../fs/control_client.ts";
import { type Rng, runCli } from "./helpers.ts";
import { isMounted, withMount } from "./mount_helpers.ts";
import { type CrashReport, emptyReport } from "./crash_report.ts";
import { digestNode, type Node, readTree, type Tree, treeDiff } from "./file_tree.ts";

export interface CrashOptions {
  rounds: number;
  rng: Rng;
  dir: string;
  /** Longest a round runs before its kill, in ms. */
  maxRoundMs: number;
  /** Compare every revision at every round (else the new ones and one old one). */
  checkAllRevisions: boolean;
  log?: (line: string) => void;
}

const HELD = "held.bin";
const TRACE = Deno.env.get("REVFS_CRASH_TRACE");

/** One round's workload: random operations until the mount dies under it. */
class Workload {
  /** Paths fsync'd and not touched since: they must survive the crash exactly. */
  readonly synced = new Set<string>();
  /** Snapshots the workload was told about: rev -> digest of the model then. */
  readonly reported = new Map<number, Tree>();
  /** A snapshot asked for whose reply never came: it may or may not exist. */
  pendingSnapshot: Tree | null = null;
  /** Revisions made after the kill, by the CLI on the store itself: not the model's state. */
  readonly unverified = new Set<number>();
  inFlight = "";
  ops = 0;
  private held: Deno.FsFile | null = null;
  private counter = 0;

  constructor(
    private readonly rng: Rng,
    private readonly mnt: string,
    private readonly store: string,
    readonly model: Map<string, Node>,
    private readonly killed: () => boolean,
  ) {}

  private p(rel: string): string {
    return join(this.mnt, rel);
  }

  private files(): string[] {
    return [...this.model].filter(([p, n]) => n.type === "file" && p !== HELD).map(([p]) => p);
  }

  private dirs(): string[] {
    return ["", ...[...this.model].filter(([, n]) => n.type === "dir").map(([p]) => p)];
  }

  private fresh(prefix: string): string {
    const dir = this.rng.pick(this.dirs());
    const name = `${prefix}${this.counter++}_${this.rng.int(1e6)}`;
    return dir ? `${dir}/${name}` : name;
  }

  private data(n: number): Uint8Array {
    return this.rng.bytes(n, this.rng.chance(0.5) ? "text" : "binary");
  }

  private size(): number {
    const r = this.rng.next();
    return r < 0.1 ? 0 : r < 0.6 ? this.rng.int(8000) : r < 0.95 ? this.rng.int(300_000) : this.rng.int(1_500_000);
  }

  /** Forgets the sync promise of `path` and everything below it (it is about to change). */
  private touch(path: string): void {
    for (const p of [...this.synced]) if (p === path || p.startsWith(path + "/")) this.synced.delete(p);
  }

  private setFile(path: string, data: Uint8Array): void {
    this.model.set(path, { type: "file", data });
  }

  private fileData(path: string): Uint8Array {
    const n = this.model.get(path);
    if (n?.type !== "file") throw new Error(`model: ${path} is not a file`);
    return n.data;
  }

  private async pwrite(path: string, at: number, bytes: Uint8Array, sync: boolean): Promise<void> {
    const f = await Deno.open(this.p(path), { write: true });
    try {
      await f.seek(at, Deno.SeekMode.Start);
      await writeAll(f, bytes);
      if (sync) await f.sync();
    } finally {
      f.close();
    }
  }

  private spliced(old: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
    const out = new Uint8Array(Math.max(old.length, at + bytes.length));
    out.set(old);
    out.set(bytes, at);
    return out;
  }

  private trace(line: string): void {
    if (TRACE) Deno.writeTextFileSync(TRACE, `${this.ops} ${line}\n`, { append: true });
  }

  async step(): Promise<void> {
    const r = this.rng.next();
    const files = this.files();
    if (r < 0.12 || files.length === 0) {
      const path = this.fresh("f");
      const data = this.data(this.size());
      this.inFlight = "create";
      this.trace(`create ${path} len ${data.length}`);
      await Deno.writeFile(this.p(path), data);
      this.setFile(path, data);
    } else if (r < 0.30) {
      const path = this.rng.pick(files);
      const old = this.fileData(path);
      const at = this.rng.int(old.length + 1);
      const bytes = this.data(1 + this.rng.int(this.rng.chance(0.8) ? 9000 : 200_000));
      this.inFlight = "overwrite";
      this.trace(`overwrite ${path} at ${at} len ${bytes.length} size ${old.length}`);
      this.touch(path);
      await this.pwrite(path, at, bytes, false);
      this.setFile(path, this.spliced(old, at, bytes));
    } else if (r < 0.36) {
      const path = this.rng.pick(files);
      const bytes = this.data(1 + this.rng.int(20_000));
      this.inFlight = "append";
      this.trace(`append ${path} len ${bytes.length}`);
      this.touch(path);
      await Deno.writeFile(this.p(path), bytes, { append: true });
      this.setFile(path, this.spliced(this.fileData(path), this.fileData(path).length, bytes));
    } else if (r < 0.42) {
      const path = this.rng.pick(files);
      const old = this.fileData(path);
      const len = this.rng.chance(0.7) ? this.rng.int(old.length + 1) : old.length + this.rng.int(200_000);
      this.inFlight = "truncate";
      this.trace(`truncate ${path} to ${len} from ${old.length}`);
      this.touch(path);
      await Deno.truncate(this.p(path), len);
      const out = new Uint8Array(len);
      out.set(old.subarray(0, Math.min(len, old.length)));
      this.setFile(path, out);
    } else if (r < 0.50) {
      await this.rename();
    } else if (r < 0.56) {
      const victims = [...files, ...this.dirs().filter((d) => d !== "" && this.isEmptyDir(d))];
      const path = this.rng.pick(victims);
      this.inFlight = "remove";
      this.touch(path);
      await Deno.remove(this.p(path));
      this.model.delete(path);
    } else if (r < 0.61) {
      const path = this.fresh("d");
      this.inFlight = "mkdir";
      await Deno.mkdir(this.p(path));
      this.model.set(path, { type: "dir" });
    } else if (r < 0.75) {
      // A write then fsync: from here on the file must survive the crash as it is now.
      const path = this.rng.chance(0.3) ? this.fresh("s") : this.rng.pick(files);
      this.inFlight = "fsync";
      this.touch(path);
      if (!this.model.has(path)) {
        await Deno.writeFile(this.p(path), new Uint8Array(0));
        this.setFile(path, new Uint8Array(0));
      }
      const old = this.fileData(path);
      const at = this.rng.int(old.length + 1);
      const bytes = this.data(1 + this.rng.int(100_000));
      this.trace(`fsync-write ${path} at ${at} len ${bytes.length} size ${old.length}`);
      await this.pwrite(path, at, bytes, true);
      this.setFile(path, this.spliced(old, at, bytes));
      this.synced.add(path);
    } else if (r < 0.87) {
      await this.heldWrite();
    } else {
      await this.snapshot();
    }
    this.inFlight = "";
    this.ops++;
  }

  private isEmptyDir(d: string): boolean {
    for (const p of this.model.keys()) if (p.startsWith(d + "/")) return false;
    return true;
  }

  private async rename(): Promise<void> {
    const candidates = [...this.model.keys()].filter((p) => p !== HELD);
    if (candidates.length === 0) return;
    const from = this.rng.pick(candidates);
    let to = this.fresh(this.model.get(from)!.type === "dir" ? "d" : "f");
    // Not into its own subtree: fresh() may pick a directory below `from`.
    if (to.startsWith(from + "/")) to = `r${this.counter++}_${this.rng.int(1e6)}`;
    this.inFlight = "rename";
    this.trace(`rename ${from} ${to}`);
    this.touch(from);
    await Deno.rename(this.p(from), this.p(to));
    for (const [p, n] of [...this.model]) {
      if (p === from || p.startsWith(from + "/")) {
        this.model.delete(p);
        this.model.set(to + p.slice(from.length), n);
      }
    }
  }

  /** Writes through a descriptor that stays open across operations and snapshots. */
  private async heldWrite(): Promise<void> {
    if (!this.held) {
      this.inFlight = "open";
      this.held = await Deno.open(this.p(HELD), { read: true, write: true, create: true });
      if (!this.model.has(HELD)) this.setFile(HELD, new Uint8Array(0));
    }
    const old = this.fileData(HELD);
    const at = this.rng.int(Math.min(old.length, 2_000_000) + 1);
    const bytes = this.data(1 + this.rng.int(30_000));
    const sync = this.rng.chance(0.3);
    this.inFlight = sync ? "held write + fsync" : "held write";
    this.touch(HELD);
    await this.held.seek(at, Deno.SeekMode.Start);
    await writeAll(this.held, bytes);
    if (sync) await this.held.sync();
    this.setFile(HELD, this.spliced(old, at, bytes));
    if (sync) this.synced.add(HELD);
  }

  private async snapshot(): Promise<void> {
    this.inFlight = "snapshot";
    this.pendingSnapshot = new Map(this.model);
    let rev: number;
    if (this.rng.chance(0.3)) {
      const r = await runCli("snapshot", this.store);
      if (r.code !== 0 || !/^\d+\n$/.test(r.stdout)) throw new Error(`snapshot: ${r.stdout}${r.stderr}`);
      rev = Number(r.stdout);
      if (this.killed()) {
        // The mount was dead: the CLI snapshotted the store itself, which holds what was synced.
        this.unverified.add(rev);
        return;
      }
    } else {
      const reply = await askMount(this.store, { op: "snapshot", message: "" });
      if (!reply?.ok || !("rev" in reply)) throw new Error(`snapshot: ${JSON.stringify(reply)}`);
      rev = reply.rev;
    }
    this.trace(`snapshot ${rev}`);
    this.reported.set(rev, this.pendingSnapshot);
    this.pendingSnapshot = null;
  }

  close(): void {
    try {
      this.held?.close();
    } catch {
      // the mount died under it
    }
    this.held = null;
  }
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await f.write(bytes.subarray(o));
}

/** Runs the rounds on one store; never throws for a broken promise, reports it. */
export async function runCrashRounds(o: CrashOptions): Promise<CrashReport> {
  const store = join(o.dir, "store");
  const mnt = join(o.dir, "mnt");
  const report = emptyReport();
  /** Every snapshot ever reported, across rounds. */
  const history = new Map<number, Tree>();
  const unverified = new Set<number>();
  let last: Workload | null = null;

  for (let round = 0; round <= o.rounds; round++) {
    const final = round === o.rounds;
    const cacheMb = o.rng.chance(0.5) ? 8 : 64;
    await withMount(store, mnt, async ({ process }) => {
      const head = readTree(mnt, [".snapshots"]);
      if (last) checkAfterCrash(last, head, mnt, history, unverified, report, o, `round ${round}`);
      if (final) return;
      let dead = false, killed = false;
      const w = new Workload(o.rng, mnt, store, head, () => killed);
      last = w;
      const exited = process.status.then(() => (dead = true));
      const timer = setTimeout(() => {
        killed = true;
        process.kill("SIGKILL");
      }, 50 + o.rng.int(o.maxRoundMs));
      try {
        while (!dead) {
          try {
            await w.step();
          } catch (e) {
            // After the kill an operation fails with ENOTCONN; before it, any failure is a bug.
            if (!killed) throw e;
            await exited;
          }
        }
      } finally {
        clearTimeout(timer);
        w.close();
      }
      report.kills++;
      report.opsCompleted += w.ops;
      report.snapshotsMade += w.reported.size;
      report.interrupted[w.inFlight || "between operations"] =
        (report.interrupted[w.inFlight || "between operations"] ?? 0) + 1;
      for (const [rev, d] of w.reported) history.set(rev, d);
      for (const rev of w.unverified) unverified.add(rev);
    }, ["--cache-mb", String(cacheMb)]);
    // withMount has cleared the dead mount (fusermount3 -u -z) if auto_unmount had not.
    if (isMounted(mnt)) report.losses.push(`round ${round}: the dead mount was not cleared`);
    else {
      // A step that began before the kill can open a path after the mount is gone and
      // write into the bare mountpoint: not the store's, and the next mount needs it empty.
      for (const e of Deno.readDirSync(mnt)) Deno.removeSync(join(mnt, e.name), { recursive: true });
    }
    if (!final) {
      const v = await runCli("verify", store);
      if (v.code !== 0) report.losses.push(`round ${round}: verify failed after the kill: ${v.stdout}${v.stderr}`);
    }
    o.log?.(
      `round ${round}: ${last ? (last as Workload).ops : 0} ops, killed during ${
        (last as Workload | null)?.inFlight || "-"
      }, ${history.size} snapshots so far, ${report.losses.length} losses`,
    );
  }
  return report;
}

function checkAfterCrash(
  w: Workload,
  head: Map<string, Node>,
  mnt: string,
  history: Map<number, Tree>,
  unverified: Set<number>,
  report: CrashReport,
  o: CrashOptions,
  where: string,
): void {
  const revs = new Set(
    [...Deno.readDirSync(join(mnt, ".snapshots"))].map((e) => Number(e.name)).filter(Number.isInteger),
  );
  for (const rev of history.keys()) {
    if (!revs.has(rev)) report.losses.push(`${where}: reported snapshot ${rev} is gone`);
  }
  const unknown = [...revs].filter((r) => !history.has(r) && !unverified.has(r));
  if (unknown.length > 1 || (unknown.length === 1 && !w.pendingSnapshot)) {
    report.losses.push(`${where}: revisions nobody asked for: ${unknown.join(", ")}`);
  } else if (unknown.length === 1) {
    // The kill cut off the reply, not the commit: it must be the state asked for.
    history.set(unknown[0], w.pendingSnapshot!);
    report.snapshotsUnreported++;
  }
  const all = [...history.keys()];
  // The soak samples: the last reported, the one whose reply was lost, two more new ones and an old one.
  const made = [...w.reported.keys()];
  const toCheck = o.checkAllRevisions ? all : [
    ...made.slice(-1),
    ...unknown,
    ...(made.length ? [o.rng.pick(made), o.rng.pick(made)] : []),
    ...(all.length ? [o.rng.pick(all)] : []),
  ];
  for (const rev of new Set(toCheck)) {
    if (!revs.has(rev)) continue;
    const diff = treeDiff(history.get(rev)!, readTree(join(mnt, ".snapshots", String(rev))));
    report.revisionChecks++;
    if (diff.length) report.losses.push(`${where}: snapshot ${rev} differs: ${diff.slice(0, 5).join("; ")}`);
  }
  for (const path of w.synced) {
    const want = w.model.get(path);
    const got = head.get(path);
    report.fsyncedFilesChecked++;
    if (!want || !got || digestNode(want) !== digestNode(got)) {
      report.losses.push(
        `${where}: fsync'd ${path} is ${got ? digestNode(got) : "gone"}, want ${want ? digestNode(want) : "?"}`,
      );
    }
  }
}

export { addReport, type CrashReport, emptyReport } from "./crash_report.ts";
