/**
 * The few libc calls the store needs that Deno does not offer: flock(2) for the writer
 * lock and lseek(2) with SEEK_DATA / SEEK_HOLE for sparse files, on descriptors we own.
 */
export const O_RDONLY = 0, O_RDWR = 0o2, O_CREAT = 0o100, O_CLOEXEC = 0o2000000;

const symbols = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
} as const;

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

export function libc(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", symbols);
  return lib.symbols;
}

/** A NUL-terminated path for libc. */
export function cPath(path: string): Uint8Array {
  return new TextEncoder().encode(path + "\0");
}
