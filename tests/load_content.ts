/** What a load worker writes (tests/load_worker.ts) and what the load test expects back. */

/** One change a worker made to one of its files; seq 0 is a delete. Times are wall-clock ms. */
export interface LoadOp {
  file: string;
  seq: number;
  size: number;
  start: number;
  end: number;
}

/** The content of a file after change `seq` of worker `w`: its stamp repeated, so a torn file shows. */
export function contentOf(w: number, seq: number, size: number): string {
  const stamp = `w${w}s${seq};`;
  return stamp.repeat(Math.ceil(size / stamp.length)).slice(0, size);
}
