/**
 * Real histories, saved the way real programs save them:
 *
 * - this repository's own commits, checked out one after another with
 *   `git read-tree -m -u` (which replaces a changed file by unlinking it and creating
 *   it again, as checkouts do);
 * - released versions of an npm package, each unpacked the way an install does: the
 *   package directory removed, then `tar -x` of the next version's tarball.
 *
 * The tarballs come from the npm registry (`npm pack`) and are kept in bench/work/npm/,
 * so a second run downloads nothing.
 */
import { join } from "node:path";
import { versionTools } from "./lib/peers.ts";
import { run } from "./lib/run.ts";
import { type ApplyState, type HistoryConfig, type HistoryResult, replay } from "./versioning.ts";

/** This repository (the benchmark's own checkout, which has its history). */
const REPO = new URL("..", import.meta.url).pathname;
const NPM_CACHE = new URL("./work/npm/", import.meta.url).pathname;
/** eslint 8.N.0: a mid-sized package (about 3 MB, 400 files) released every few weeks. */
const NPM_PACKAGE = "eslint";
const npmVersions = (n: number) => Array.from({ length: n }, (_, k) => `8.${57 - n + 1 + k}.0`);

/** Sum of file sizes below `dir`. */
export function treeBytes(dir: string): number {
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) n += treeBytes(p);
    else if (e.isFile) n += Deno.statSync(p).size;
  }
  return n;
}

async function must(cmd: string, args: string[], env?: Record<string, string>): Promise<void> {
  const r = await run(cmd, args, { env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
}

export async function repoHistory(
  work: string,
  cfg: HistoryConfig,
  present: Record<string, boolean>,
  log: (s: string) => void,
): Promise<HistoryResult> {
  const all = (await run("git", ["-C", REPO, "rev-list", "--reverse", "HEAD"])).stdout.trim().split("\n");
  const commits = all.slice(0, cfg.repoCommits);
  if (commits.length < 2) throw new Error(`${REPO} has no history to replay`);
  // One index per tree: read-tree -m -u moves a tree from the state its index records.
  const index = (tree: string) => `${work}/index-${tree.replaceAll("/", "_")}`;
  const checkout = (i: number): Promise<ApplyState> =>
    Promise.resolve(async (tree: string) => {
      const args = i === 0 ? ["read-tree", "--reset", "-u", commits[0]] : ["read-tree", "-m", "-u", commits[i]];
      await must("git", [`--git-dir=${REPO}/.git`, `--work-tree=${tree}`, ...args], { GIT_INDEX_FILE: index(tree) });
    });
  return await replay(
    "this repository's history",
    `revfs's own first ${commits.length} commits, checked out one after another with git read-tree -m -u`,
    versionTools(work, present, { borgZstd: true }),
    commits.length,
    checkout,
    treeBytes,
    () => "mod.ts",
    log,
  );
}

export async function npmHistory(
  work: string,
  cfg: HistoryConfig,
  present: Record<string, boolean>,
  log: (s: string) => void,
): Promise<HistoryResult> {
  const versions = npmVersions(cfg.npmVersions);
  await Deno.mkdir(NPM_CACHE, { recursive: true });
  const tarballs: string[] = [];
  for (const v of versions) {
    const tgz = join(NPM_CACHE, `${NPM_PACKAGE}-${v}.tgz`);
    try {
      await Deno.stat(tgz);
    } catch {
      await must("npm", ["pack", "--silent", `${NPM_PACKAGE}@${v}`, "--pack-destination", NPM_CACHE]);
    }
    tarballs.push(tgz);
  }
  const unpack = (i: number): Promise<ApplyState> =>
    Promise.resolve(async (tree: string) => {
      await Deno.remove(join(tree, "package"), { recursive: true }).catch(() => {});
      await must("tar", ["-xzf", tarballs[i], "-C", tree]);
    });
  return await replay(
    `npm package ${NPM_PACKAGE}`,
    `${NPM_PACKAGE} ${versions[0]} to ${versions.at(-1)}, each version's tarball unpacked after removing the last`,
    versionTools(work, present, { borgZstd: true }),
    versions.length,
    unpack,
    treeBytes,
    () => "package/package.json",
    log,
  );
}
