/**
 * The versioning tools compared with revfs, each driven through its own command line
 * with default settings, the way a user would: one command per snapshot, timed whole
 * (process start included, for revfs too). git, restic and borg snapshot a plain
 * directory; revfs snapshots its mount, where the same edits were made.
 */
import { askMount } from "../../fs/control_client.ts";
import { RevfsTarget } from "./mounts.ts";
import { duBytes, has, run, sh } from "./run.ts";

export interface VersionTool {
  name: string;
  /** The directory edits go to. */
  tree: string;
  init(): Promise<void>;
  /** One snapshot of `tree`; returns its wall time in ms. */
  snapshot(message: string): Promise<number>;
  /** Bytes the repository takes on disk. */
  size(): Promise<number>;
  /** Times reading one file / listing the whole tree of the first snapshot. */
  readFirst(path: string): Promise<number>;
  listFirst(): Promise<number>;
  stop(): Promise<void>;
}

export class GitTool implements VersionTool {
  readonly name = "git";
  private first = "";
  constructor(readonly tree: string, private readonly gitDir: string) {}
  private git(args: string[]) {
    return run("git", [`--git-dir=${this.gitDir}`, `--work-tree=${this.tree}`, ...args], {
      env: { GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@b", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@b" },
    });
  }
  async init() {
    await run("git", ["init", "-q", "--bare", this.gitDir]);
  }
  async snapshot(message: string) {
    const t0 = performance.now();
    await this.git(["add", "-A"]);
    await this.git(["commit", "-q", "--allow-empty", "-m", message]);
    const ms = performance.now() - t0;
    if (!this.first) this.first = (await this.git(["rev-parse", "HEAD"])).stdout.trim();
    return ms;
  }
  size() {
    return duBytes(this.gitDir);
  }
  async gc(): Promise<number> {
    return (await this.git(["gc", "-q"])).ms;
  }
  async readFirst(path: string) {
    return (await this.git(["show", `${this.first}:${path}`])).ms;
  }
  async listFirst() {
    return (await this.git(["ls-tree", "-r", this.first])).ms;
  }
  stop() {
    return Promise.resolve();
  }
}

export class ResticTool implements VersionTool {
  readonly name = "restic";
  private first = "";
  private readonly env: Record<string, string>;
  constructor(readonly tree: string, private readonly repo: string) {
    this.env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "bench", RESTIC_CACHE_DIR: `${repo}-cache` };
  }
  async init() {
    await run("restic", ["init", "-q"], { env: this.env });
  }
  async snapshot(_message: string) {
    const r = await run("restic", ["backup", "--json", "."], { env: this.env, cwd: this.tree });
    if (!this.first) {
      const summary = r.stdout.split("\n").filter((l) => l.includes('"summary"')).pop();
      this.first = JSON.parse(summary!).snapshot_id;
    }
    return r.ms;
  }
  size() {
    return duBytes(this.repo);
  }
  async readFirst(path: string) {
    return (await run("restic", ["dump", this.first, `/${path}`], { env: this.env })).ms;
  }
  async listFirst() {
    return (await run("restic", ["ls", this.first], { env: this.env })).ms;
  }
  stop() {
    return Promise.resolve();
  }
}

export class BorgTool implements VersionTool {
  readonly name: string;
  private count = 0;
  private readonly env: Record<string, string>;
  constructor(readonly tree: string, private readonly repo: string, private readonly compression?: string) {
    this.name = compression ? `borg ${compression}` : "borg";
    // Its cache and config beside the repository, so runs do not share state.
    this.env = { BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes", BORG_BASE_DIR: `${repo}-base` };
  }
  async init() {
    // borg 1.2 makes the user choose encryption; none keeps the comparison about storage.
    await run("borg", ["init", "-e", "none", this.repo], { env: this.env });
  }
  async snapshot(_message: string) {
    const args = [
      "create",
      ...(this.compression ? ["--compression", this.compression] : []),
      `${this.repo}::c${this.count++}`,
      ".",
    ];
    return (await run("borg", args, { env: this.env, cwd: this.tree })).ms;
  }
  size() {
    return duBytes(this.repo);
  }
  async readFirst(path: string) {
    return (await run("borg", ["extract", "--stdout", `${this.repo}::c0`, path], { env: this.env })).ms;
  }
  async listFirst() {
    return (await run("borg", ["list", `${this.repo}::c0`], { env: this.env })).ms;
  }
  stop() {
    return Promise.resolve();
  }
}

export class RevfsTool implements VersionTool {
  readonly name = "revfs";
  mount!: RevfsTarget;
  private first = 0;
  /** The mount's own time for each snapshot (flush + commit), without the CLI's process start. */
  readonly inMountMs: number[] = [];
  /** The mount's work each snapshot left for after its reply (its deltas, committed). */
  readonly afterReplyMs: number[] = [];
  constructor(readonly store: string, readonly tree: string) {}
  async init() {
    this.mount = await RevfsTarget.start(this.store, this.tree);
  }
  async snapshot(message: string) {
    const { ms, rev } = await this.mount.snapshot(message);
    if (!this.first) this.first = rev;
    const reply = await askMount(this.store, { op: "status" });
    if (reply?.ok && "status" in reply && reply.status.lastSnapshotMs !== undefined) {
      this.inMountMs.push(reply.status.lastSnapshotMs);
      if (reply.status.lastAfterSnapshotMs !== undefined) this.afterReplyMs.push(reply.status.lastAfterSnapshotMs);
    }
    return ms;
  }
  size() {
    return duBytes(this.store);
  }
  async readFirst(path: string) {
    return (await sh(`cat '${this.tree}/.snapshots/${this.first}/${path}' > /dev/null`)).ms;
  }
  async listFirst() {
    return (await sh(`find '${this.tree}/.snapshots/${this.first}' > /dev/null`)).ms;
  }
  stop() {
    return this.mount.stop();
  }
}

/**
 * revfs and every installed peer, each with its own repository under `work`; the peers
 * share one plain directory. git can be left out (files too big for it), and the borg
 * zstd,3 variant added.
 */
export function versionTools(
  work: string,
  present: Record<string, boolean>,
  opts: { git?: boolean; borgZstd?: boolean } = {},
): VersionTool[] {
  const plain = `${work}/plain`;
  Deno.mkdirSync(plain, { recursive: true });
  const tools: VersionTool[] = [new RevfsTool(`${work}/revfs-store`, `${work}/revfs`)];
  if (present.git && opts.git !== false) tools.push(new GitTool(plain, `${work}/git`));
  if (present.restic) tools.push(new ResticTool(plain, `${work}/restic`));
  if (present.borg) tools.push(new BorgTool(plain, `${work}/borg`));
  if (present.borg && opts.borgZstd) tools.push(new BorgTool(plain, `${work}/borg-zstd`, "zstd,3"));
  return tools;
}

/** Which peers are installed; the benchmark skips (and says so) the ones that are not. */
export async function peersPresent(): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const p of ["bindfs", "git", "restic", "borg", "sqlite3"]) out[p] = await has(p);
  return out;
}
