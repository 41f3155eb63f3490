/**
 * Optional system libraries (libzstd, libxxhash, libcrypto): loaded through FFI when
 * present, with a portable fallback in the caller when not (WebAssembly, node:crypto).
 * Setting `env` to `portable`'s value forces the fallback, so tests and benchmarks can
 * run both.
 */
export function optionalLibrary<S extends Deno.ForeignLibraryInterface>(
  file: string,
  symbols: S,
  env: string,
  portable = "wasm",
): Deno.DynamicLibrary<S>["symbols"] | undefined {
  if (Deno.env.get(env) === portable) return undefined;
  try {
    return Deno.dlopen(file, symbols).symbols;
  } catch {
    return undefined;
  }
}
