/** The benchmark's Markdown report and SVG charts, from the results JSON alone. */
import type { FileIoResult, IoRow } from "./fileio.ts";
import type { Machine } from "./lib/machine.ts";
import type { MountMemory } from "./lib/mounts.ts";
import { MiB } from "./lib/run.ts";
import { type Sample, spreadPct } from "./lib/stats.ts";
import { barPanels, lineChart, type Series } from "./lib/svg.ts";
import type { HistoryResult } from "./versioning.ts";
import type { HistoryReadResult } from "./history_reads.ts";
import type { ScalePoint, ScalingResult } from "./scaling.ts";

export interface BenchResults {
  mode: "full" | "quick";
  startedAt: string;
  durationS: number;
  command: string;
  machine: Machine;
  tools: Record<string, string>;
  revfsCommit: string;
  /** Peers not installed, skipped. */
  skipped: string[];
  fileIo?: IoRow[];
  /** The small-request workloads again with the kernel's fuse.wake_here set the other way. */
  fileIoWakeHere?: FileIoResult["otherWakeHere"];
  historyReads?: HistoryReadResult;
  histories?: HistoryResult[];
  scaling?: ScalingResult;
}

const num = (v: number, digits = 0) =>
  v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (b: number) => `${num(b / MiB, b < 10 * MiB ? 1 : 0)} MiB`;
const ms = (v: number) => v >= 10_000 ? `${num(v / 1000, 1)} s` : `${num(v, v < 10 ? 1 : 0)} ms`;
const ratio = (v: number) => `${v.toFixed(2)}x`;
const sizeLabel = (b: number) => b >= 1024 * MiB ? `${b / 1024 / MiB} GiB` : `${b / MiB} MiB`;

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)]
    .join("\n");
}

function memoryCell(m?: MountMemory): string {
  if (!m) return "";
  return `peak ${mib(m.peakRssBytes)}, anon ${mib(m.maxRssAnonBytes)} (cache ${mib(m.maxCachedBytes)}, dirty ${
    mib(m.maxDirtyBytes)
  })`;
}

/** A target's median and spread for one workload. */
function cell(row: IoRow, t: "local" | "bindfs" | "revfs"): string {
  const s = row.results[t];
  return s ? `${num(s.median, s.median < 100 ? 1 : 0)} ±${spreadPct(s).toFixed(0)}%` : "-";
}

/** The filesystems' CPU over one run, medians; older results have none. */
function cpuCell(row: IoRow): string {
  const [r, b] = [row.cpuMs?.revfs, row.cpuMs?.bindfs];
  return r ? `${ms(r.median)} / ${b ? ms(b.median) : "-"}` : "";
}

export function markdown(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`Benchmark: \`${r.command}\`, ${r.mode} run, ${r.startedAt.slice(0, 10)}, ${num(r.durationS / 60, 1)} min.`);
  out.push(
    `Machine: ${m.cores} cores (${m.cpu}), ${
      num(m.memoryBytes / 2 ** 30, 0)
    } GiB memory, Linux ${m.kernel}, local = ${m.workFs}. ` +
      `revfs ${r.revfsCommit}, Deno ${r.tools.deno}; ${
        Object.entries(r.tools).filter(([k]) => k !== "deno").map(([k, v]) => `${k}: ${v}`).join("; ")
      }.`,
  );
  if (r.skipped.length) out.push(`Not installed, skipped: ${r.skipped.join(", ")}.`);

  if (r.fileIo) {
    const reps = r.fileIo[0]?.results.revfs?.runs.length ?? 0;
    out.push(
      `\n### File I/O through the mount\n\nMedian of ${reps} runs (± half the min-max spread), targets interleaved in each run; higher is better. bindfs is a C libfuse filesystem over a local directory. Memory: the revfs mount's peak resident set over the workload (VmHWM, LMDB's file map included), and the largest anonymous memory, page cache and dirty amounts sampled. CPU: the filesystem process's user and system time over one run (median; in 10 ms ticks).\n`,
    );
    out.push(table(
      [
        "workload",
        "unit",
        "local",
        "bindfs",
        "revfs",
        "revfs / bindfs",
        "revfs / local",
        "revfs memory",
        "CPU revfs / bindfs",
        "what one run does",
      ],
      r.fileIo.map((
        row,
      ) => [
        row.workload,
        row.unit,
        cell(row, "local"),
        cell(row, "bindfs"),
        cell(row, "revfs"),
        `**${ratio(row.ratioToBindfs)}**`,
        ratio(row.ratioToLocal),
        memoryCell(row.revfsMemory),
        cpuCell(row),
        row.detail,
      ]),
    ));
  }
  const w = r.fileIoWakeHere;
  if (w && r.fileIo) {
    const asFound = new Map(r.fileIo.map((row) => [row.workload, row.ratioToBindfs]));
    const reps = w.rows[0]?.results.revfs?.runs.length ?? 0;
    out.push(
      `\n#### The small requests again with fuse.wake_here=${w.setting}\n\nThis kernel's FUSE module has a parameter \`wake_here\` (${w.asFound} as found, and in the table above). With \`Y\` a reply does not pay the wake-up of an idle CPU, which on these VMs is the dearest part of a small request: bindfs's threads pay it with \`N\`, revfs avoids it by waiting busy for its next request (with \`Y\` it does not wait busy; fs/fuse/request_wait.ts). The same workloads, bindfs and revfs alternating, median of ${reps} runs, then the parameter put back.\n`,
    );
    out.push(table(
      ["workload", "unit", "bindfs", "revfs", "revfs / bindfs", `as found (${w.asFound})`, "CPU revfs / bindfs"],
      w.rows.map((row) => [
        row.workload,
        row.unit,
        cell(row, "bindfs"),
        cell(row, "revfs"),
        `**${ratio(row.ratioToBindfs)}**`,
        ratio(asFound.get(row.workload) ?? NaN),
        cpuCell(row),
      ]),
    ));
  }
  if (r.historyReads) {
    const h = r.historyReads;
    const mbs = (s: Sample) => `${num(s.median)} MB/s ±${spreadPct(s).toFixed(0)}%`;
    out.push(
      `\nReading history: a ${
        mib(h.bytes)
      } file (half random, half text) read cold with \`dd bs=1M\` from \`.snapshots/N\` of the snapshot just taken ${
        mbs(h.snapshot)
      }, from the head ${mbs(h.head)}: **${
        ratio(h.ratio)
      }** of the head's (median of ${h.head.runs.length} runs each, alternating, after remount + drop_caches).\n`,
    );
  }

  for (const h of r.histories ?? []) {
    out.push(
      `\n### Versioning: ${h.workload}\n\n${h.detail}: ${h.snapshots} snapshots, ${
        mib(h.logicalBytes)
      } logical (the sum of every state's size). Times are whole commands (process start included), each snapshot started on a settled disk (syncfs first); revfs reads the oldest state through its mount (\`.snapshots/N\`). Reads of the oldest state are cold (kernel caches dropped first); after gc, revfs reads in a new mount (its first read).\n`,
    );
    out.push(table(
      [
        "tool",
        "first snapshot",
        "later snapshots: total",
        "p50",
        "p95",
        "repository",
        "logical / stored",
        "read a file (oldest)",
        "list tree (oldest)",
      ],
      h.tools.map((t) => [
        t.tool,
        ms(t.initialMs),
        ms(t.totalMs),
        ms(t.p50Ms),
        ms(t.p95Ms),
        t.sizeAfterGcBytes !== undefined
          ? `${mib(t.sizeBytes)} (${mib(t.sizeAfterGcBytes)} after ${t.packedWith ?? "gc"})`
          : mib(t.sizeBytes),
        num(t.logicalPerStored, 1),
        ms(t.readFirstMs) + (t.readFirstAfterGcMs !== undefined ? ` (${ms(t.readFirstAfterGcMs)} after gc)` : ""),
        ms(t.listFirstMs),
      ]),
    ));
    const revfs = h.tools.find((t) => t.tool === "revfs");
    if (revfs) {
      out.push(
        `\nrevfs: the mount's own time per snapshot (flush + commit, without the CLI's process start) p50 ${
          ms(revfs.inMountP50Ms ?? NaN)
        }${
          revfs.afterReplyP50Ms !== undefined
            ? ` (then ${ms(revfs.afterReplyP50Ms)} after the reply, making and committing its deltas)`
            : ""
        }; records ${mib(revfs.recordBytes ?? NaN)} of the ${mib(revfs.sizeBytes)} LMDB file before gc${
          revfs.afterGc
            ? `, and after optimize + gc the file is ${
              (revfs.afterGc.dataFileBytes / revfs.afterGc.recordBytes).toFixed(2)
            }x the keys and values of every table (${mib(revfs.afterGc.recordBytes)})`
            : ""
        }; mount memory ${memoryCell(revfs.revfsMemory)}.`,
      );
    }
  }

  if (r.scaling) {
    const s = r.scaling;
    const grid = (points: ScalePoint[], label: (x: number) => string, head: string) => {
      const tools = [...new Set(points.map((p) => p.tool))];
      const xs = [...new Set(points.map((p) => p.x))];
      return table(
        [head, ...tools.map((t) => `${t} (first)`), ...tools],
        xs.map((x) => {
          const at = (t: string) => points.find((p) => p.x === x && p.tool === t);
          return [
            label(x),
            ...tools.map((t) => at(t) ? ms(at(t)!.initialMs) : "-"),
            ...tools.map((t) => at(t) ? `**${ms(at(t)!.changeMs)}**` : "skipped"),
          ];
        }),
      );
    };
    out.push(
      `\n### Scaling: snapshot after a small change\n\nMedian time of a snapshot after changing one file (one 4 KiB block for the sparse file), against the size of what did not change; "first" is the first snapshot of everything (revfs: \`import\`). Each snapshot starts on a settled disk (syncfs of the work directory's filesystem first), so no tool's fsyncs wait for another's writes. git is skipped above ${
        sizeLabel(s.gitMaxFileBytes)
      } (it reads a whole file into memory to add it).\n`,
    );
    // The mount's own part of revfs's snapshots, where the run measured it.
    const own = (points: ScalePoint[], label: (x: number) => string) => {
      const at = points.filter((p) => p.inMountMs !== undefined).map((p) =>
        `${label(p.x)} ${ms(p.inMountMs!)}` + (p.afterReplyMs !== undefined ? ` (+${ms(p.afterReplyMs)} after)` : "")
      );
      return at.length === 0 ? [] : [
        "",
        `revfs, the mount's own part of those snapshots (writeout, snapshot, commit; without the command line's start), p50: ${
          at.join(", ")
        }; in brackets, its work after the reply (making and committing the deltas).`,
      ];
    };
    out.push(grid(s.treeFiles, (x) => `${num(x)} files`, "tree"), ...own(s.treeFiles, (x) => `${num(x)} files`));
    out.push("");
    out.push(grid(s.fileBytes, sizeLabel, "sparse file"), ...own(s.fileBytes, sizeLabel));
    const peak = Math.max(...s.revfsMemory.map((m) => m.peakRssBytes));
    out.push(`\nrevfs mount peak resident set over the scaling runs: ${mib(peak)}.`);
  }
  const shown = [
    ["io.svg", "file I/O by tool"],
    ...(r.histories ?? []).map((h) => [growthChart(h), `repository size per snapshot, ${h.workload}`]),
    ["snapshot-vs-tree.svg", "snapshot time against tree size"],
    ["snapshot-vs-file.svg", "snapshot time against file size"],
  ].filter(([file]) => file in charts(r));
  if (shown.length) out.push("\n" + shown.map(([file, alt]) => `![${alt}](${file})`).join("\n"));
  return out.join("\n") + "\n";
}

/**
 * The README's headline: revfs against bindfs on each file I/O workload, and each
 * tool's repository for each history. The whole report is in docs/BENCHMARKS.md.
 */
export function headline(r: BenchResults): string {
  const out = [
    `\`${r.command}\`, ${r.mode} run, ${r.startedAt.slice(0, 10)}, revfs ${r.revfsCommit}, ${r.machine.cores} cores.\n`,
  ];
  if (r.fileIo) {
    const w = r.fileIoWakeHere;
    const other = new Map(w?.rows.map((row) => [row.workload, row.ratioToBindfs]));
    out.push(table(
      [
        "file I/O through the mount",
        "revfs / bindfs (a C FUSE filesystem)",
        ...w ? [`the same, fuse.wake_here=${w.setting}`] : [],
      ],
      r.fileIo.map((row) => [
        `${row.workload} (${row.unit})`,
        ratio(row.ratioToBindfs),
        ...w ? [other.has(row.workload) ? ratio(other.get(row.workload)!) : "not run"] : [],
      ]),
    ));
    if (w) {
      out.push(
        `\nThe last column: the small-request workloads again with this kernel's FUSE parameter \`wake_here\` set to ${w.setting} (${w.asFound} as found), ${
          w.setting === "Y"
            ? "which spares bindfs an idle CPU's wake-up per request"
            : "which makes bindfs pay an idle CPU's wake-up per request"
        } (docs/BENCHMARKS.md).`,
      );
    }
  }
  if (r.historyReads) {
    out.push(
      `\nA file read cold from \`.snapshots/N\`: ${
        ratio(r.historyReads.ratio)
      } of the same file's speed in the head.\n`,
    );
  }
  for (const h of r.histories ?? []) {
    out.push(
      `\n${h.detail}, ${h.snapshots} snapshots:\n`,
      table(["", ...h.tools.map((t) => t.tool)], [
        [
          "repository",
          ...h.tools.map((t) =>
            mib(t.sizeAfterGcBytes ?? t.sizeBytes) +
            (t.sizeAfterGcBytes !== undefined ? ` (${t.packedWith ?? "gc"})` : "")
          ),
        ],
        ["snapshot, p50", ...h.tools.map((t) => ms(t.p50Ms))],
      ]),
    );
  }
  return out.join("\n") + "\n";
}

/** The growth chart's file name for a history: growth-source-tree.svg, growth-binary-file.svg, ... */
function growthChart(h: HistoryResult): string {
  return `growth-${h.workload.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}.svg`;
}

export function charts(r: BenchResults): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of r.histories ?? []) {
    out[growthChart(h)] = lineChart(
      h.tools.map((t) => ({ name: t.tool, points: t.growth.map((b, i) => [i + 1, b / MiB] as [number, number]) })),
      {
        title: `Repository size after each snapshot: ${h.workload} (git and revfs before gc)`,
        xLabel: "snapshot",
        yLabel: "repository size on disk (MiB)",
      },
    );
  }
  if (r.scaling) {
    const series = (points: ScalePoint[]): Series[] =>
      [...new Set(points.map((p) => p.tool))].map((tool) => ({
        name: tool,
        points: points.filter((p) => p.tool === tool).map((p) => [p.x, p.changeMs] as [number, number]),
      }));
    out["snapshot-vs-tree.svg"] = lineChart(series(r.scaling.treeFiles), {
      title: "Snapshot after a one-file change, by tree size",
      xLabel: "files in the tree",
      yLabel: "snapshot time (ms)",
      logX: true,
      logY: true,
      xTicks: [...new Set(r.scaling.treeFiles.map((p) => p.x))],
      formatX: (v) => num(v),
      formatY: (v) => num(v),
    });
    out["snapshot-vs-file.svg"] = lineChart(series(r.scaling.fileBytes), {
      title: "Snapshot after a one-block change, by file size (sparse)",
      xLabel: "file size",
      yLabel: "snapshot time (ms)",
      logX: true,
      logY: true,
      xTicks: [...new Set(r.scaling.fileBytes.map((p) => p.x))],
      formatX: (v) => sizeLabel(v).replace(" ", ""),
      formatY: (v) => num(v),
    });
  }
  if (r.fileIo) {
    out["io.svg"] = barPanels(
      "File I/O: local directory, bindfs, revfs (median, higher is better)",
      r.fileIo.map((row) => ({
        title: row.workload,
        unit: row.unit,
        bars: (["local", "bindfs", "revfs"] as const).filter((t) => row.results[t]).map((t) => ({
          name: t,
          value: row.results[t]!.median,
        })),
      })),
    );
  }
  return out;
}
