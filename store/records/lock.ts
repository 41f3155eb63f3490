/**
 * One writer per store: an exclusive flock(2) on STORE/writer.lock, taken without
 * waiting. The kernel drops it when the process dies, so a crash never leaves a
 * stale lock. Readers take no lock: LMDB gives them a consistent snapshot.
 *
 * The file is opened through libc so we own its descriptor (Deno.FsFile hides it).
 */
import { cPath, libc, O_CLOEXEC, O_CREAT, O_RDWR } from "../../sys/libc.ts";

const LOCK_EX = 2, LOCK_NB = 4;

export const LOCK_FILE = "writer.lock";

export class WriterLock {
  private constructor(private fd: number) {}

  /** Returns null when another holder (this process included) has the lock. */
  static tryAcquire(dir: string): WriterLock | null {
    const fd = libc().open(cPath(`${dir}/${LOCK_FILE}`), O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
    if (fd < 0) throw new Error(`cannot open ${dir}/${LOCK_FILE}`);
    if (libc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      libc().close(fd);
      return null;
    }
    return new WriterLock(fd);
  }

  release(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}
