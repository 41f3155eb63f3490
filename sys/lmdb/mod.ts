/**
 * LMDB through Deno FFI: an environment (env.ts), and what is done in its transactions
 * (txn.ts). store/records/lmdb_backend.ts gives them meaning.
 */
export { Env, type EnvOptions } from "./env.ts";
export { LIBRARY_PATH, LmdbError } from "./ffi.ts";
export { abort, APPEND, commit, compare, count, del, get, has, put, range, renew, reset } from "./txn.ts";
