/**
 * Where a local file holds data: lseek(2) with SEEK_DATA / SEEK_HOLE, so `import`
 * reads only the data of a sparse file instead of a terabyte of holes. Through libc,
 * since Deno's seek has no such whence. A filesystem without hole support reports the
 * whole file as data, which is still right.
 */
import { cPath, libc, O_CLOEXEC, O_RDONLY } from "../../sys/libc.ts";

const SEEK_DATA = 3, SEEK_HOLE = 4;

/** [start, end) byte ranges of `path` that hold data, in order, within `size`. */
export function dataExtents(path: string, size: number): [number, number][] {
  const c = libc();
  const fd = c.open(cPath(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return size > 0 ? [[0, size]] : [];
  try {
    const out: [number, number][] = [];
    let at = 0;
    while (at < size) {
      const start = Number(c.lseek(fd, BigInt(at), SEEK_DATA));
      if (start < 0 || start >= size) break; // ENXIO: only holes from here
      const end = Math.min(size, Number(c.lseek(fd, BigInt(start), SEEK_HOLE)));
      if (end <= start) return [[0, size]]; // not supported as expected: read it all
      out.push([start, end]);
      at = end;
    }
    return out;
  } finally {
    c.close(fd);
  }
}
