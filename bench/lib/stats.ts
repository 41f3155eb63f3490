/** Summaries of repeated measurements: medians, percentiles, spread. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** A repeated measurement: every sample kept, so readers can judge the noise. */
export interface Sample {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function sample(runs: number[]): Sample {
  return { median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs };
}

/** Spread as "+-x%" of the median: half the min-max range. */
export function spreadPct(s: Sample): number {
  return s.median === 0 ? 0 : ((s.max - s.min) / 2 / s.median) * 100;
}
