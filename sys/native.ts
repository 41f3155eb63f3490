/**
 * Optional system libraries (libzstd, libxxhash): loaded through FFI when present, with
 * a WebAssembly fallback in the caller when not. Setting `env`=wasm forces the fallback,
 * so tests and benchmarks can run both.
 */
export function optionalLibrary<S extends Deno.ForeignLibraryInterface>(
  file: string,
  symbols: S,
  env: string,
): Deno.DynamicLibrary<S>["symbols"] | undefined {
  if (Deno.env.get(env) === "wasm") return undefined;
  try {
    return Deno.dlopen(file, symbols).symbols;
  } catch {
    return undefined;
  }
}
