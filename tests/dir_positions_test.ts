/**
 * Directory listings read by offset alone (fs/dir_positions.ts): a reader finishes the
 * listing it started across changes to the directory, and a reader whose listing was
 * dropped goes on in the current one; through a real mount, a program that reads a
 * directory while another changes it sees every entry that stayed exactly once, and
 * `.snapshots` lists a snapshot taken after it was listed (mount_test.ts).
 */
import assert from "node:assert/strict";
import { DirPositions } from "../fs/dir_positions.ts";
import type { DirEntryOut, ListingPart } from "../fs/fuse/ops.ts";
import { mountTestDir, sh, withMount } from "./mount_helpers.ts";

const listing = (names: string[]): DirEntryOut[] => names.map((name, i) => ({ name, ino: 100 + i, mode: 0o100000 }));
const names = (n: number, prefix = "f") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Reads `take` entries of a part; the offset a reader goes on from. */
function read(part: ListingPart, take: number, into: string[]): number {
  const end = Math.min(part.entries.length, part.from + take);
  for (let i = part.from; i < end; i++) into.push(part.entries[i].name);
  return part.base + end;
}

Deno.test("dir positions: a reader finishes the listing it started, though the directory changed", () => {
  const positions = new DirPositions();
  let current = listing(names(10));
  const seen: string[] = [];
  let offset = read(positions.part(7, 0, () => current), 4, seen);
  // f1 (read) and f6 (not yet) removed, g added: a new listing.
  current = listing([...names(10).filter((n) => n !== "f1" && n !== "f6"), "g"]);
  const other: string[] = [];
  read(positions.part(7, 0, () => current), 100, other);
  assert.deepEqual(other, current.map((e) => e.name), "a reader starting now sees the change");
  while (true) {
    const before = seen.length;
    offset = read(positions.part(7, offset, () => current), 3, seen);
    if (seen.length === before) break;
  }
  assert.deepEqual(seen, names(10), "the first reader's listing, each entry once");
});

Deno.test("dir positions: readers of an unchanged listing share it; offsets name their listing", () => {
  const positions = new DirPositions();
  const current = listing(names(5));
  let calls = 0;
  const list = () => (calls++, current);
  const a = positions.part(1, 0, list), b = positions.part(1, 0, list);
  assert.equal(a.base, b.base, "one generation for one listing");
  assert.notEqual(positions.part(2, 0, () => listing(names(5))).base, a.base, "another directory, another");
  const rest: string[] = [];
  read(positions.part(1, a.base + 2, list), 100, rest);
  assert.deepEqual(rest, ["f2", "f3", "f4"]);
  assert.ok(a.base + 5 < 2 ** 53, "offsets are exact as numbers");
});

Deno.test("dir positions: a reader whose listing was dropped goes on at its place in the current one", () => {
  const positions = new DirPositions(10);
  const seen: string[] = [];
  const offset = read(positions.part(1, 0, () => listing(names(8))), 3, seen);
  // Two other directories of 8 entries push the first listing out (10 entries kept).
  positions.part(2, 0, () => listing(names(8, "x")));
  positions.part(3, 0, () => listing(names(8, "y")));
  read(positions.part(1, offset, () => listing(names(8, "z"))), 100, seen);
  assert.deepEqual(seen, ["f0", "f1", "f2", "z3", "z4", "z5", "z6", "z7"]);
});

Deno.test("dir positions: a directory read through the mount while files come and go lists every file that stayed, once", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-dirpos-");
  try {
    await withMount(store, mnt, async () => {
      const d = `${mnt}/d`;
      await Deno.mkdir(d);
      // Long names: a getdents buffer (32 KiB) holds a few hundred, so the reader asks
      // the mount several times and the changes land between its reads.
      const name = (i: number) => `${String(i).padStart(4, "0")}-${"n".repeat(80)}`;
      for (let i = 0; i < 1200; i++) await Deno.writeTextFile(`${d}/${name(i)}`, "");
      // Not listed before: the kernel keeps a listing only once it has read it whole, so
      // the reader's later parts come from the mount, by offset.
      const script = `
import os, sys
d = sys.argv[1]
it = os.scandir(d)
seen = [next(it).name for _ in range(300)]
for i in range(0, 1200, 7):
    os.unlink(os.path.join(d, "%04d-" % i + "n" * 80))
for i in range(1200, 1300):
    open(os.path.join(d, "%04d-" % i + "n" * 80), "w").close()
seen += [e.name for e in it]
print("\\n".join(seen))
`;
      const r = await sh(`python3 -c '${script}' ${d}`);
      assert.equal(r.code, 0, r.stderr);
      const seen = r.stdout.trim().split("\n");
      assert.equal(new Set(seen).size, seen.length, "no entry twice");
      const stayed = Array.from({ length: 1200 }, (_, i) => i).filter((i) => i % 7 !== 0).map(name);
      const set = new Set(seen);
      assert.deepEqual(stayed.filter((n) => !set.has(n)), [], "every file that stayed listed");
      const after = (await sh(`ls ${d}`)).stdout.trim().split("\n");
      assert.equal(after.length, 1200 - 172 + 100, "a new listing shows the changes");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
