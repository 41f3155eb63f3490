/**
 * The request loop's wait for the next request (fs/fuse/request_wait.ts), on a FIFO
 * standing in for /dev/fuse: ready at once when a request is there, busy for as long as
 * asked and then asleep when none comes, the environment knob read strictly, and the
 * default chosen by the kernel's FUSE parameter.
 */
import assert from "node:assert/strict";
import { libc, O_RDWR, S_IFIFO } from "../sys/libc.ts";
import { utf8Bytes } from "../sys/small_bytes.ts";
import {
  chooseWaitBusyUs,
  kernelWakeHere,
  pollfdOf,
  WAIT_BUSY_US,
  WAIT_HERE_MS,
  waitBusyUsFor,
  waitForRequest,
} from "../fs/fuse/request_wait.ts";

const O_NONBLOCK = 0o4000;

/** A FIFO opened for reading and writing (so opening never blocks), with its pollfd. */
function fifo(): { path: string; pollfd: Uint8Array; close: () => void } {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/requests`;
  const c = libc();
  assert.equal(c.mknod(utf8Bytes(path + "\0"), S_IFIFO | 0o600, 0n), 0);
  const fd = c.open(utf8Bytes(path + "\0"), O_RDWR | O_NONBLOCK, 0);
  assert(fd >= 0);
  return {
    path,
    pollfd: pollfdOf(fd),
    close: () => {
      c.close(fd);
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

Deno.test("a request already there is taken at once, busy or not", () => {
  const f = fifo();
  try {
    Deno.writeFileSync(f.path, new Uint8Array([1]));
    for (const busyUs of [0, WAIT_BUSY_US, 1_000_000]) {
      const t0 = performance.now();
      assert(waitForRequest(libc(), f.pollfd, busyUs));
      // Nowhere near the second of busy waiting it was allowed.
      assert(performance.now() - t0 < 500, `busyUs ${busyUs}`);
    }
  } finally {
    f.close();
  }
});

Deno.test("with no request it waits busy as long as asked, then asleep, and says none came", () => {
  const f = fifo();
  try {
    for (const busyUs of [0, 3_000, 20_000]) {
      const t0 = performance.now();
      assert.equal(waitForRequest(libc(), f.pollfd, busyUs), false);
      const ms = performance.now() - t0;
      assert(ms >= busyUs / 1000 + WAIT_HERE_MS * 0.9, `busyUs ${busyUs}: returned after ${ms} ms`);
    }
  } finally {
    f.close();
  }
});

Deno.test("REVFS_WAIT_BUSY_US: default, zero, and a clear error for anything but whole microseconds", () => {
  const before = Deno.env.get("REVFS_WAIT_BUSY_US");
  try {
    Deno.env.delete("REVFS_WAIT_BUSY_US");
    assert.equal(chooseWaitBusyUs(), kernelWakeHere() === "Y" ? 0 : WAIT_BUSY_US);
    Deno.env.set("REVFS_WAIT_BUSY_US", "0");
    assert.equal(chooseWaitBusyUs(), 0);
    Deno.env.set("REVFS_WAIT_BUSY_US", "50");
    assert.equal(chooseWaitBusyUs(), 50);
    for (const bad of ["-1", "1.5", "fast", ""]) {
      Deno.env.set("REVFS_WAIT_BUSY_US", bad);
      assert.throws(() => chooseWaitBusyUs(), /REVFS_WAIT_BUSY_US must be a whole number of microseconds, not/);
    }
  } finally {
    if (before === undefined) Deno.env.delete("REVFS_WAIT_BUSY_US");
    else Deno.env.set("REVFS_WAIT_BUSY_US", before);
  }
});

Deno.test("the default wait is busy unless the kernel's FUSE wakes a caller on the replying CPU", () => {
  assert.equal(waitBusyUsFor(undefined), WAIT_BUSY_US); // a kernel without the parameter
  assert.equal(waitBusyUsFor("N"), WAIT_BUSY_US);
  assert.equal(waitBusyUsFor("Y"), 0);
  assert(WAIT_BUSY_US > 0);
});
