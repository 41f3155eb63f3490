/**
 * Directory listings through a real mount: every name of every length and script, in
 * listings that span many kernel buffers, with the attributes a walk sees. The mount
 * packs readdir and readdirplus replies itself (fs/fuse/dir_replies.ts); after a remount
 * a walk's stat is answered from what readdirplus handed the kernel, so a wrong byte
 * there shows up as a wrong size, mode, link count or time.
 */
import assert from "node:assert/strict";
import { runCli, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

/** Builds the same tree under $1 on any filesystem. */
const MAKE_TREE = String.raw`
set -e
cd "$1"
mkdir d
cd d
long=$(printf 'n%.0s' $(seq 255))
for i in $(seq 1 254); do printf 'x%.0s' $(seq $i) > "$(printf 'f%.0s' $(seq $i))"; done
: > "$long"
for n in é 日本語のファイル 'émoji 😀 name' "$(printf 'ü%.0s' $(seq 127))" 'with space' '-dash' '.hidden'; do
  printf '%s' "$n" > "$n"
done
for i in $(seq 1 300); do echo $i > "many-$i"; done
mkdir sub emptydir
echo inner > sub/file
ln -s "$long" link-to-long
ln -s /nowhere dangling
ln many-1 hardlink
mkfifo fifo
find . -exec touch -h -d '2020-05-05 05:05:05.123456789 UTC' {} +
chmod 751 sub; chmod 600 many-2; chmod 4755 many-3; chmod 1777 emptydir
touch -h -d '1969-12-31 23:59:59.250000001 UTC' many-4
touch -h -d '1903-06-01 00:00:00.5 UTC' many-5
touch -h -d '2300-01-01 12:00:00.999999999 UTC' many-6
touch -h -d '2024-02-29 10:11:12.123456789 UTC' link-to-long
touch -h -d '2001-01-01 00:00:00 UTC' sub
touch -h -d '2020-05-05 05:05:05.123456789 UTC' .
`;

/** Runs `script` with bash, `root` as its $1. */
async function bash(script: string, root: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("bash", { args: ["-c", script, "-", root], stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { code: r.code, stdout: d.decode(r.stdout), stderr: d.decode(r.stderr) };
}

/** What a walk sees, one sorted line per entry: type, size, mode, links, mtime in ns, name. */
const WALK = String.raw`cd "$1" && find d -mindepth 1 -printf '%y %s %m %n %T@ %P\n' | sort`;

Deno.test("listing: every name, long and non-ASCII, over many buffers, with the attributes a walk sees, in the head and in a revision", async () => {
  const dir = await tempDir();
  try {
    const ref = `${dir}/ref`, mnt = `${dir}/mnt`, store = `${dir}/store`;
    await Deno.mkdir(ref);
    const made = await bash(MAKE_TREE, ref);
    assert.equal(made.code, 0, made.stderr);
    const want = await bash(WALK, ref);
    assert.equal(want.code, 0, want.stderr);
    assert.equal(want.stdout.trim().split("\n").length, 569, "the reference tree");

    let rev = "";
    await withMount(store, mnt, async () => {
      const r = await bash(MAKE_TREE, mnt);
      assert.equal(r.code, 0, r.stderr);
      rev = (await runCli("snapshot", mnt)).stdout.trim();
    });
    // A new mount: no name or attribute cached in the kernel, so the walk's stat of each
    // entry is answered from the readdirplus reply that listed it.
    await withMount(store, mnt, async () => {
      const head = await bash(WALK, mnt);
      assert.equal(head.code, 0, head.stderr);
      assert.equal(head.stdout, want.stdout);
      const again = await bash(WALK, mnt);
      assert.equal(again.stdout, want.stdout, "a second walk, from the kernel's caches");
      const old = await bash(WALK, `${mnt}/.snapshots/${rev}`);
      assert.equal(old.code, 0, old.stderr);
      // A revision is read-only and keeps no FIFO open: the walk sees the same entries.
      assert.equal(old.stdout, want.stdout);
      const names = await sh(`ls -1fa ${mnt}/d | sort`);
      const refNames = await sh(`ls -1fa ${ref}/d | sort`);
      assert.equal(names.stdout, refNames.stdout, "plain readdir names, with . and ..");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
