/**
 * One writer per store: an exclusive flock(2) on STORE/writer.lock, taken without
 * waiting. The kernel drops it when the process dies, so a crash never leaves a
 * stale lock. Readers take no lock: LMDB gives them a consistent snapshot.
 *
 * The file is opened through libc so we own its descriptor (Deno.FsFile hides it).
 */
const O_RDWR = 0o2, O_CREAT = 0o100, O_CLOEXEC = 0o2000000;
const LOCK_EX = 2, LOCK_NB = 4;

const symbols = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

let libc: Deno.DynamicLibrary<typeof symbols> | undefined;

export const LOCK_FILE = "writer.lock";

export class WriterLock {
  private constructor(private fd: number) {}

  /** Returns null when another holder (this process included) has the lock. */
  static tryAcquire(dir: string): WriterLock | null {
    libc ??= Deno.dlopen("libc.so.6", symbols);
    const path = new TextEncoder().encode(`${dir}/${LOCK_FILE}\0`);
    const fd = libc.symbols.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
    if (fd < 0) throw new Error(`cannot open ${dir}/${LOCK_FILE}`);
    if (libc.symbols.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      libc.symbols.close(fd);
      return null;
    }
    return new WriterLock(fd);
  }

  release(): void {
    if (this.fd >= 0) libc!.symbols.close(this.fd);
    this.fd = -1;
  }
}
