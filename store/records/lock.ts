/**
 * The store's two locks, both flock(2), which the kernel drops when a process dies, so
 * a crash never leaves a stale lock:
 *
 * - STORE/writer.lock: one writer per store, exclusive, taken without waiting. Readers
 *   do not take it: LMDB gives them a consistent snapshot.
 * - STORE/access.lock: every process with the store open holds it shared; compaction
 *   (store/maintenance/compact.ts) replaces the data file, which only a process alone
 *   with the store may do, so it takes it exclusive, without waiting.
 *
 * The files are opened through libc so we own their descriptors (Deno.FsFile hides them).
 */
import { cPath, libc, O_CLOEXEC, O_CREAT, O_RDWR } from "../../sys/libc.ts";

const LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

/**
 * Unlocks, then closes. Closing alone is not enough: a child another thread forks keeps
 * a copy of the descriptor until it execs, and with it the lock (the likely reason a
 * test under `deno test --parallel` once found its store locked right after closing it;
 * not reproduced).
 */
function unlockAndClose(fd: number): void {
  libc().flock(fd, LOCK_UN);
  libc().close(fd);
}

export const LOCK_FILE = "writer.lock";
export const ACCESS_LOCK_FILE = "access.lock";

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
    if (this.fd >= 0) unlockAndClose(this.fd);
    this.fd = -1;
  }
}

export class AccessLock {
  private constructor(private fd: number) {}

  /**
   * Holds the store open against compaction, waiting while one runs. Null when the
   * lock file cannot be made (a read-only store, which nothing can compact either).
   */
  static shared(dir: string): AccessLock | null {
    const fd = libc().open(cPath(`${dir}/${ACCESS_LOCK_FILE}`), O_RDWR | O_CREAT | O_CLOEXEC, 0o644);
    if (fd < 0) return null;
    if (libc().flock(fd, LOCK_SH) !== 0) {
      libc().close(fd);
      return null;
    }
    return new AccessLock(fd);
  }

  /** Turns a shared hold exclusive; false (still shared) while another process has the store open. */
  tryExclusive(): boolean {
    if (this.fd < 0) return false;
    if (libc().flock(this.fd, LOCK_EX | LOCK_NB) === 0) return true;
    // Linux drops the shared lock before it tries the exclusive one: take it back.
    libc().flock(this.fd, LOCK_SH);
    return false;
  }

  release(): void {
    if (this.fd >= 0) unlockAndClose(this.fd);
    this.fd = -1;
  }
}
