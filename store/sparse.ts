/**
 * Where a local file holds data: lseek(2) with SEEK_DATA / SEEK_HOLE, so `import`
 * reads only the data of a sparse file instead of a terabyte of holes. Through libc,
 * since Deno's seek has no such whence. A filesystem without hole support reports the
 * whole file as data, which is still right.
 */
const SEEK_DATA = 3, SEEK_HOLE = 4;
const O_RDONLY = 0, O_CLOEXEC = 0o2000000;

const symbols = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

let libc: Deno.DynamicLibrary<typeof symbols> | undefined;

/** [start, end) byte ranges of `path` that hold data, in order, within `size`. */
export function dataExtents(path: string, size: number): [number, number][] {
  libc ??= Deno.dlopen("libc.so.6", symbols);
  const fd = libc.symbols.open(new TextEncoder().encode(path + "\0"), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return size > 0 ? [[0, size]] : [];
  try {
    const out: [number, number][] = [];
    let at = 0;
    while (at < size) {
      const start = Number(libc.symbols.lseek(fd, BigInt(at), SEEK_DATA));
      if (start < 0 || start >= size) break; // ENXIO: only holes from here
      const end = Math.min(size, Number(libc.symbols.lseek(fd, BigInt(start), SEEK_HOLE)));
      if (end <= start) return [[0, size]]; // not supported as expected: read it all
      out.push([start, end]);
      at = end;
    }
    return out;
  } finally {
    libc.symbols.close(fd);
  }
}
