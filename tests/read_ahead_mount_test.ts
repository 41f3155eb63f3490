/**
 * Reading in order through a mount whose store reads ahead itself (REVFS_LMDB_READAHEAD=own,
 * as a store past 256 MiB does on these machines; the tests' small stores leave it to the
 * kernel otherwise): the next blocks' records are found on the helper threads
 * (sys/lmdb/map_ahead.c), and the blocks a reader in order has passed are not kept
 * (fs/block_reads.ts `passing`), and its next reads' compressed blocks are decoded on the
 * zstd helper thread while it is answered. Through the head and `.snapshots`, with reads that end
 * inside blocks (O_DIRECT, 96 KiB each), every byte must be the one written.
 */
import assert from "node:assert/strict";
import { askMount } from "../fs/control_client.ts";
import { mountTestDir, sh, withMount } from "./mount_helpers.ts";
import { dropPages, Rng, sha256Hex } from "./helpers.ts";

const BLOCK = 64 * 1024;

/** 64 KiB blocks alternately text (zstd records, decoded into the cache's buffers) and random (raw). */
function mixedFile(rng: Rng, blocks: number): Uint8Array {
  const data = new Uint8Array(blocks * BLOCK);
  for (let i = 0; i < blocks; i++) data.set(rng.bytes(BLOCK, i % 2 === 0 ? "text" : "binary"), i * BLOCK);
  return data;
}

async function cacheStats(
  store: string,
): Promise<{ cachedBlocks: number; headPrefetches: number; decodedAhead: number }> {
  const reply = await askMount(store, { op: "status" });
  assert.ok(reply?.ok && "status" in reply, "the mount answers status");
  return reply.status.cache;
}

Deno.test("mount, own read-ahead: files read in order are the bytes written, and what was passed is not kept", async () => {
  const { dir, store, mnt } = await mountTestDir("revfs-read-ahead-");
  try {
    const data = mixedFile(new Rng(31), 256); // 16 MiB
    const want = sha256Hex(data);
    await Deno.writeFile(`${dir}/source`, data);
    let rev = 0;
    await withMount(store, mnt, async () => {
      const cp = await sh(`cp ${dir}/source ${mnt}/f && sync -f ${mnt}/f`);
      assert.equal(cp.code, 0, cp.stderr);
      const reply = await askMount(store, { op: "snapshot", message: "f" });
      assert.ok(reply?.ok && "rev" in reply, "snapshot taken");
      rev = reply.rev;
    });
    await withMount(
      store,
      mnt,
      async () => {
        dropPages(`${store}/data.mdb`);
        const head = await sh(`cat ${mnt}/f | sha256sum`);
        assert.equal(head.stdout.split(" ")[0], want, "the head's file, read in order");
        const afterHead = await cacheStats(store);
        assert.ok(afterHead.headPrefetches > 100, `${afterHead.headPrefetches} blocks asked for ahead`);
        // Of the 128 text blocks, those of the reads after the first few are decoded on the helper thread.
        assert.ok(afterHead.decodedAhead > 64, `${afterHead.decodedAhead} blocks decoded ahead`);
        // The text half of 256 blocks would be 128 kept; a reader in order leaves them (but
        // for the reads before it is seen to be in order, and any the kernel sends out of it).
        assert.ok(afterHead.cachedBlocks <= 32, `${afterHead.cachedBlocks} blocks kept`);

        dropPages(`${store}/data.mdb`);
        const direct = await sh(`dd if=${mnt}/.snapshots/${rev}/f iflag=direct bs=96k status=none | sha256sum`);
        assert.equal(direct.code, 0, direct.stderr);
        assert.equal(
          direct.stdout.split(" ")[0],
          want,
          "the snapshot's file in 96 KiB reads, each ending inside a block",
        );
        const afterSnapshot = await cacheStats(store);
        assert.ok(afterSnapshot.cachedBlocks <= 32, "nor through .snapshots");
        assert.ok(afterSnapshot.decodedAhead - afterHead.decodedAhead > 64, "decoded ahead through .snapshots");

        // A reader at random keeps what it decodes: 4 KiB from each of 40 text blocks, out of order.
        const picks = Array.from({ length: 40 }, (_, i) => ((i * 37) % 128) * 2);
        const reads = picks.map((b) => `dd if=${mnt}/f iflag=direct bs=4k skip=${b * 16 + 3} count=1 status=none`);
        const expected = new Uint8Array(picks.length * 4096);
        picks.forEach((b, i) => expected.set(data.subarray(b * BLOCK + 3 * 4096, b * BLOCK + 4 * 4096), i * 4096));
        const raw = await new Deno.Command("bash", { args: ["-c", reads.join("; ")], stdout: "piped" }).output();
        assert.deepEqual(raw.stdout, expected, "4 KiB read at random");
        assert.ok((await cacheStats(store)).cachedBlocks >= 40, "blocks read at random are kept");
      },
      [],
      { REVFS_LMDB_READAHEAD: "own" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
