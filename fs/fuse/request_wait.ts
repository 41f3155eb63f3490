/**
 * How the request loop waits for the kernel's next request once none is ready: first
 * busy, then asleep on this thread, then (the caller's part) on a helper thread so the
 * event loop runs.
 *
 * Busy first, because a program making one call after another (stat, create, a random
 * read) sends its next request within tens of microseconds of our reply, and a sleeping
 * thread costs that program a wake-up of our CPU. On these machines (Firecracker VMs,
 * guest halt-polling off) waking an idle CPU is the dearest part of a request: a pipe
 * ping-pong between two processes takes 61-74 us a round trip on two CPUs, 7 us on one;
 * 10,000 stats (dentries dropped) through bindfs 1.1-1.4 s, and 0.27 s with bindfs and
 * the caller on one CPU. Waiting busy for the next request, revfs's took 0.32-0.38 s
 * against 0.98-1.21 (docs/BENCHMARKS.md, "Waiting busy for the next request").
 */
import type { Libc } from "../../sys/libc.ts";
import { RevfsError } from "../../store/types.ts";

/**
 * How long to wait busy, by default (REVFS_WAIT_BUSY_US overrides; 0 turns it off). Long
 * enough for a caller woken on its own CPU to make its next call; a stream of requests
 * further apart costs at most this much CPU each.
 */
export const WAIT_BUSY_US = 200;
/**
 * Then wait this long in a poll() on this thread before awaiting poll() on a helper
 * thread: waking from the helper's poll() is a handoff between threads. Measured on
 * another host, whose wake-ups cost far less (3,000 cold stats by hand): 172-212 ms,
 * against 200-246 ms for spinning 0.1 ms without yielding and then the helper.
 */
export const WAIT_HERE_MS = 1;

/**
 * Some kernels' FUSE module has a parameter `wake_here` (these machines' has, `N` by
 * default; found in no public source, so known by its effect): with `Y` a reply runs the
 * woken caller on the replying CPU (perf: our reply's write switches to it), so no idle
 * CPU is woken. Then waiting busy only keeps the caller off that CPU: with `Y`, 10,000
 * creates took 3.3-5.0 s (median 4.4) waiting busy against 2.7-4.1 (3.6) not, 10,000
 * cold stats 0.47-0.80 s against 0.35-0.61, `find` and `git status` alike (eight rounds;
 * docs/BENCHMARKS.md, "wake_here both ways").
 */
export const WAKE_HERE_PARAM = "/sys/module/fuse/parameters/wake_here";

/** The kernel's wake_here setting ("Y", "N"); undefined where it has no such parameter. */
export function kernelWakeHere(): string | undefined {
  try {
    return Deno.readTextFileSync(WAKE_HERE_PARAM).trim();
  } catch {
    return undefined;
  }
}

/** How long to wait busy on a kernel whose wake_here setting is `wakeHere` (undefined: none). */
export function waitBusyUsFor(wakeHere: string | undefined): number {
  return wakeHere === "Y" ? 0 : WAIT_BUSY_US;
}

/** REVFS_WAIT_BUSY_US if set (strictly a whole number), else what suits this kernel. */
export function chooseWaitBusyUs(): number {
  const v = Deno.env.get("REVFS_WAIT_BUSY_US");
  if (v === undefined) return waitBusyUsFor(kernelWakeHere());
  if (!/^\d{1,7}$/.test(v)) {
    throw new RevfsError("INVALID", `REVFS_WAIT_BUSY_US must be a whole number of microseconds, not "${v}"`);
  }
  return Number(v);
}

const POLLIN = 1;

/** A struct pollfd asking whether `fd` is readable, for `waitForRequest` and poll(2). */
export function pollfdOf(fd: number): Uint8Array {
  const pollfd = new Uint8Array(8);
  const v = new DataView(pollfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, POLLIN, true);
  return pollfd;
}

/**
 * Waits for `pollfd` (from `pollfdOf`) to be readable: up to `busyUs` polling
 * without sleeping, then up to WAIT_HERE_MS asleep. Each busy turn yields the CPU, so
 * a program that is runnable on this CPU (perhaps the very caller we wait for) goes
 * first. True when the fd is ready.
 */
export function waitForRequest(libc: Libc, pollfd: Uint8Array, busyUs: number): boolean {
  if (busyUs > 0) {
    const until = performance.now() + busyUs / 1000;
    do {
      if (libc.poll_here(pollfd, 1n, 0) > 0) return true;
      libc.sched_yield();
    } while (performance.now() < until);
  }
  return libc.poll_here(pollfd, 1n, WAIT_HERE_MS) > 0;
}
