/**
 * Small SVG charts, written by hand so the benchmark needs nothing beyond Deno: line
 * charts (linear or log axes) and bar-chart panels. Colours are fixed per series name
 * so a tool looks the same in every chart.
 */

export interface Series {
  name: string;
  points: [number, number][];
}

const PALETTE: Record<string, string> = {
  revfs: "#d62728",
  local: "#7f7f7f",
  bindfs: "#1f77b4",
  git: "#ff7f0e",
  "git (after gc)": "#ffbb78",
  restic: "#2ca02c",
  borg: "#9467bd",
  "borg zstd,3": "#8c564b",
};
const EXTRA = ["#e377c2", "#17becf", "#bcbd22"];
const colour = (name: string, i: number) => PALETTE[name] ?? EXTRA[i % EXTRA.length];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Round-number ticks across [lo, hi]. */
function linearTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  /** Tick positions on x; default: round numbers (linear) or powers of ten (log). */
  xTicks?: number[];
  formatX?: (v: number) => string;
  formatY?: (v: number) => string;
}

export function lineChart(series: Series[], o: LineChartOptions): string {
  const W = 720, H = 420, L = 80, R = 150, T = 40, B = 55;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [o.logY ? Math.min(...ys.filter((y) => y > 0)) : 0, Math.max(...ys)];
  const xt = o.xTicks ?? (o.logX ? logTicks(x0, x1) : linearTicks(x0, x1));
  const yt = o.logY ? logTicks(y0, y1) : linearTicks(y0, y1);
  [x0, x1] = [Math.min(x0, xt[0]), Math.max(x1, xt[xt.length - 1])];
  [y0, y1] = [Math.min(y0, yt[0]), Math.max(y1, yt[yt.length - 1])];
  const fx = (v: number) =>
    L + (o.logX ? (Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (v - x0) / (x1 - x0 || 1)) *
      (W - L - R);
  const fy = (v: number) =>
    H - B -
    (o.logY
        ? (Math.log10(Math.max(v, y0)) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))
        : (v - y0) / (y1 - y0 || 1)) *
      (H - T - B);
  const fmtX = o.formatX ?? String, fmtY = o.formatY ?? String;
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  for (const v of xt) {
    parts.push(`<line x1="${fx(v)}" y1="${T}" x2="${fx(v)}" y2="${H - B}" stroke="#eee"/>`);
    parts.push(`<text x="${fx(v)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${esc(fmtX(v))}</text>`);
  }
  for (const v of yt) {
    parts.push(`<line x1="${L}" y1="${fy(v)}" x2="${W - R}" y2="${fy(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${fy(v) + 4}" text-anchor="end" font-size="11">${esc(fmtY(v))}</text>`);
  }
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${
      esc(o.yLabel)
    }</text>`,
  );
  series.forEach((s, i) => {
    const c = colour(s.name, i);
    const d = s.points.map((p, k) => `${k ? "L" : "M"}${fx(p[0]).toFixed(1)},${fy(p[1]).toFixed(1)}`).join(" ");
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="${s.name === "revfs" ? 3 : 2}"/>`);
    if (s.points.length <= 12) {
      for (const p of s.points) parts.push(`<circle cx="${fx(p[0])}" cy="${fy(p[1])}" r="3.5" fill="${c}"/>`);
    }
    const ly = T + 10 + i * 20;
    parts.push(`<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 34}" y2="${ly}" stroke="${c}" stroke-width="3"/>`);
    parts.push(`<text x="${W - R + 40}" y="${ly + 4}" font-size="12">${esc(s.name)}</text>`);
  });
  return svg(W, H, parts);
}

export interface BarPanel {
  title: string;
  unit: string;
  bars: { name: string; value: number }[];
}

/** Panels side by side, each with its own linear scale, one bar per tool. */
export function barPanels(title: string, panels: BarPanel[], perRow = 3): string {
  const PW = 260, PH = 200, T = 40;
  const rows = Math.ceil(panels.length / perRow);
  const W = PW * Math.min(perRow, panels.length), H = T + rows * PH;
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  panels.forEach((p, i) => {
    const ox = (i % perRow) * PW, oy = T + Math.floor(i / perRow) * PH;
    const max = Math.max(...p.bars.map((b) => b.value)) || 1;
    const bw = (PW - 40) / p.bars.length;
    parts.push(
      `<text x="${ox + PW / 2}" y="${oy + 14}" text-anchor="middle" font-size="12" font-weight="bold">${
        esc(`${p.title} (${p.unit})`)
      }</text>`,
    );
    p.bars.forEach((b, k) => {
      const h = (b.value / max) * (PH - 75);
      const x = ox + 20 + k * bw + 4, y = oy + PH - 40 - h;
      parts.push(`<rect x="${x}" y="${y}" width="${bw - 8}" height="${h}" fill="${colour(b.name, k)}"/>`);
      parts.push(
        `<text x="${x + (bw - 8) / 2}" y="${y - 4}" text-anchor="middle" font-size="10">${esc(short(b.value))}</text>`,
      );
      parts.push(
        `<text x="${x + (bw - 8) / 2}" y="${oy + PH - 26}" text-anchor="middle" font-size="11">${esc(b.name)}</text>`,
      );
    });
  });
  return svg(W, H, parts);
}

export function short(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return v.toFixed(0);
  return v.toPrecision(2);
}

function svg(w: number, h: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${
    parts.join("\n")
  }\n</svg>\n`;
}
