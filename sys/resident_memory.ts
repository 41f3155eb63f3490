/**
 * The process's resident memory as the kernel counts it: anonymous (the heap, V8's and
 * the cache's buffers) apart from file-backed (the store's mapped LMDB file, which the
 * kernel may drop at will).
 */
export interface ResidentMemory {
  rssAnonBytes: number;
  rssFileBytes: number;
}

export function residentMemory(): ResidentMemory {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) * 1024;
  return { rssAnonBytes: kb("RssAnon"), rssFileBytes: kb("RssFile") };
}
