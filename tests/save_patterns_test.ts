/**
 * History costs what changed however a program saves a file: in place, truncate and
 * rewrite, write a new file and rename it over, unlink and create again, rename and
 * then edit, a directory removed and extracted again (tar -x), and a file deleted in
 * one directory and written, changed, in another (a checkout of a move). Through a real
 * mount, a second version changing 1% of a 1 MiB text file and of a 64 MiB binary
 * file must grow the store by at most 1.3x the bytes changed plus the snapshot's
 * pages; both versions must read back exactly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng, runCli, sha256Hex } from "./helpers.ts";
import { mountTestDir, withMount } from "./mount_helpers.ts";

type Pattern =
  | "in place"
  | "truncate + write"
  | "new file + rename"
  | "unlink + create"
  | "rename, then edit"
  | "tar -x"
  | "moved elsewhere";
const PATTERNS: Pattern[] = [
  "in place",
  "truncate + write",
  "new file + rename",
  "unlink + create",
  "rename, then edit",
  "tar -x",
  "moved elsewhere",
];

/**
 * What a snapshot writes besides the changed data: the new block-map pages of the file
 * (about 33 bytes a block: a 64 MiB file's map is two 512-slot leaves and a root) and
 * the directory pages on its path. Stated here and in docs/BENCHMARKS.md.
 */
function fixedCost(fileBytes: number): number {
  return 8192 + 40 * Math.ceil(fileBytes / 65536);
}

/** A second version: 1% of the bytes rewritten, in 4 KiB pieces (binary) or short runs of text. */
function changed(
  rng: Rng,
  v1: Uint8Array,
  kind: "text" | "binary",
): { v2: Uint8Array; pieces: [number, Uint8Array][] } {
  const v2 = v1.slice();
  const piece = kind === "binary" ? 4096 : 512;
  const pieces: [number, Uint8Array][] = [];
  const target = Math.floor(v1.length / 100);
  const used = new Set<number>();
  for (let done = 0; done < target;) {
    const slot = rng.int(Math.floor(v1.length / piece));
    if (used.has(slot)) continue;
    used.add(slot);
    const bytes = rng.bytes(piece, kind);
    v2.set(bytes, slot * piece);
    pieces.push([slot * piece, bytes]);
    done += piece;
  }
  return { v2, pieces };
}

/** The store's size as `stats` on the mountpoint gives it: after the last snapshot's deltas, made after its reply. */
async function storedBytes(mnt: string): Promise<{ stored: number; deltas: number }> {
  const r = await runCli("stats", mnt, "--json");
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  if (s.mount.lastSnapshotMs !== undefined) assert.equal(typeof s.mount.lastAfterSnapshotMs, "number", r.stdout);
  return { stored: s.storedBytes, deltas: s.deltaRecords };
}

async function snapshot(mnt: string): Promise<number> {
  const r = await runCli("snapshot", mnt);
  assert.equal(r.code, 0, r.stderr);
  return Number(r.stdout.trim());
}

/** Saves `v2` at `dir/name` the way `pattern` does; returns where the file is now. */
async function save(
  pattern: Pattern,
  dir: string,
  name: string,
  v2: Uint8Array,
  pieces: [number, Uint8Array][],
): Promise<string> {
  const path = join(dir, name);
  const inPlace = async (at: string) => {
    const f = await Deno.open(at, { write: true });
    try {
      for (const [off, bytes] of pieces) {
        await f.seek(off, Deno.SeekMode.Start);
        for (let n = 0; n < bytes.length;) n += await f.write(bytes.subarray(n));
      }
    } finally {
      f.close();
    }
  };
  switch (pattern) {
    case "in place":
      await inPlace(path);
      return path;
    case "truncate + write":
      await Deno.writeFile(path, v2);
      return path;
    case "new file + rename":
      await Deno.writeFile(`${path}.tmp`, v2);
      await Deno.rename(`${path}.tmp`, path);
      return path;
    case "unlink + create":
      await Deno.remove(path);
      await Deno.writeFile(path, v2);
      return path;
    case "rename, then edit": {
      const moved = join(dir, `moved-${name}`);
      await Deno.rename(path, moved);
      await inPlace(moved);
      return moved;
    }
    case "tar -x":
      await Deno.remove(dir, { recursive: true });
      await Deno.mkdir(dir);
      await Deno.writeFile(path, v2);
      return path;
    case "moved elsewhere": {
      await Deno.remove(path);
      await Deno.mkdir(join(dir, "elsewhere"));
      const moved = join(dir, "elsewhere", name);
      await Deno.writeFile(moved, v2);
      return moved;
    }
  }
}

for (const kind of ["text", "binary"] as const) {
  const size = kind === "text" ? 1 << 20 : 64 << 20;
  Deno.test(`save patterns: a ${size >> 20} MiB ${kind} file's second version costs what changed, however it is saved`, async () => {
    const { dir, store, mnt } = await mountTestDir("revfs-save-");
    try {
      await withMount(store, mnt, async () => {
        const rng = new Rng(kind === "text" ? 16 : 61);
        const report: string[] = [];
        for (const pattern of PATTERNS) {
          const where = join(mnt, pattern.replace(/[^a-z]+/g, "-"));
          await Deno.mkdir(where);
          const v1 = rng.bytes(size, kind);
          await Deno.writeFile(join(where, "file"), v1);
          const r1 = await snapshot(mnt);
          const before = await storedBytes(mnt);
          const { v2, pieces } = changed(rng, v1, kind);
          const path = await save(pattern, where, "file", v2, pieces);
          const r2 = await snapshot(mnt);
          const after = await storedBytes(mnt);
          const growth = after.stored - before.stored;
          const changedBytes = pieces.reduce((n, [, b]) => n + b.length, 0);
          const bound = 1.3 * changedBytes + fixedCost(size);
          report.push(`${pattern}: ${growth} bytes for ${changedBytes} changed (bound ${Math.round(bound)})`);
          assert.ok(growth <= bound, `${pattern}: the store grew ${growth} bytes for ${changedBytes} changed`);
          assert.ok(after.deltas > before.deltas, `${pattern}: no block of the old version became a delta`);
          const rel = path.slice(mnt.length + 1);
          assert.equal(
            sha256Hex(await Deno.readFile(join(mnt, ".snapshots", String(r1), where.slice(mnt.length + 1), "file"))),
            sha256Hex(v1),
            `${pattern}: revision ${r1}`,
          );
          assert.equal(
            sha256Hex(await Deno.readFile(join(mnt, ".snapshots", String(r2), rel))),
            sha256Hex(v2),
            `${pattern}: revision ${r2}`,
          );
          assert.equal(sha256Hex(await Deno.readFile(path)), sha256Hex(v2), `${pattern}: the head`);
        }
        console.log(report.map((l) => `  ${l}`).join("\n"));
      });
      const verify = await runCli("verify", store);
      assert.equal(verify.code, 0, verify.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
