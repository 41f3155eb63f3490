/** `revfs stats`: sizes and counts, and a running mount's memory. */
import { findStore, out, withStore } from "../util.ts";
import { humanBytes } from "../progress.ts";
import type { Command } from "../command.ts";

export const command: Command = {
  usage: [["stats STORE [--json]", "sizes and counts, and a running mount's memory"]],
  args: { min: 1, max: 1, missing: "STORE", flags: ["--json"] },
  async run(a) {
    const storeDir = findStore(a.positional[0]);
    // The mount first: it answers once a snapshot's work after its reply is committed.
    const { askMount } = await import("../../fs/control_client.ts");
    const reply = await askMount(storeDir, { op: "status" });
    const st = await withStore(storeDir, {}, (s) => s.stats());
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
    out(
      `tree pages     ${st.pages} (${humanBytes(st.pageBytes)}` +
        (st.inlineBytes > 0 ? `, holding ${humanBytes(st.inlineBytes)} of small files inline)` : ")"),
    );
    out(
      `stored bytes   ${humanBytes(st.storedBytes)}: ${humanBytes(st.wholeBytes)} whole blocks, ${
        humanBytes(st.deltaBytes)
      } deltas, ${humanBytes(st.pageBytes)} pages, ${humanBytes(st.dictBytes)} dictionaries (logical/stored ${ratio})`,
    );
    out(`other tables   ${humanBytes(st.tableBytes)} (the head, revisions, chains)`);
    out(
      `on disk        ${humanBytes(st.fileBytes)} (${
        humanBytes(st.freeBytes)
      } of it free pages; gc compacts them away)`,
    );
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
};
