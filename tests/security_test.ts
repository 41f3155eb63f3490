/**
 * Who may do what: `.snapshots` is read-only for everyone, root included; the control
 * socket is the mounting user's alone; other users cannot enter a mount unless it was
 * made with --allow-other, and then the kernel enforces permission bits. "Another
 * user" is nobody (uid 65534), through setpriv; the tests run as root.
 */
import assert from "node:assert/strict";
import { runCli, tempDir } from "./helpers.ts";
import { sh, withMount } from "./mount_helpers.ts";

const NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups";

/** Runs a shell command as nobody. */
function asNobody(cmd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return sh(`${NOBODY} bash -c ${JSON.stringify(cmd)}`);
}

async function openDir(): Promise<string> {
  const dir = await tempDir("revfs-security-");
  // Other users must reach the mountpoint, or every check below would pass for the wrong reason.
  await Deno.chmod(dir, 0o755);
  return dir;
}

Deno.test("security: .snapshots refuses every write, even root's", async () => {
  const dir = await openDir();
  try {
    const store = `${dir}/store`, mnt = `${dir}/mnt`;
    await withMount(store, mnt, async () => {
      await Deno.writeTextFile(`${mnt}/f.txt`, "v1");
      await Deno.mkdir(`${mnt}/d`);
      assert.equal((await runCli("snapshot", store)).stdout, "1\n");
      assert.equal((await sh("id -u")).stdout.trim(), "0", "these checks mean something only as root");
      const s = `${mnt}/.snapshots/1`;
      for (
        const cmd of [
          `echo x > ${s}/f.txt`,
          `echo x >> ${s}/f.txt`,
          `truncate -s 0 ${s}/f.txt`,
          `touch ${s}/new`,
          `mkdir ${s}/d2`,
          `rmdir ${s}/d`,
          `rm -f ${s}/f.txt`,
          `mv ${s}/f.txt ${s}/g.txt`,
          `mv ${s}/f.txt ${mnt}/moved.txt`,
          `ln -s x ${s}/link`,
          `chmod 777 ${s}/f.txt`,
          `chown 65534 ${s}/f.txt`,
          `touch -d 2001-01-01 ${s}/f.txt`,
          `rm -rf ${mnt}/.snapshots`,
          `mv ${mnt}/.snapshots ${mnt}/snaps`,
          `touch ${mnt}/.snapshots/2`,
        ]
      ) {
        const r = await sh(cmd);
        assert.notEqual(r.code, 0, `${cmd} succeeded`);
        assert.match(r.stderr, /Read-only file system/, `${cmd}: ${r.stderr}`);
      }
      assert.equal(await Deno.readTextFile(`${s}/f.txt`), "v1");
      assert.equal(await Deno.readTextFile(`${mnt}/f.txt`), "v1");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: the control socket is 0600 and other users cannot use it or enter the mount", async () => {
  const dir = await openDir();
  try {
    const store = `${dir}/store`, mnt = `${dir}/mnt`;
    await withMount(store, mnt, async () => {
      const sock = await Deno.stat(`${store}/control.sock`);
      assert.equal(sock.mode! & 0o777, 0o600);
      const connect = await asNobody(
        `DENO_DIR=/tmp/revfs-nobody-deno HOME=/tmp ${Deno.execPath()} eval ` +
          `"await Deno.connect({ transport: 'unix', path: '${store}/control.sock' })"`,
      );
      assert.notEqual(connect.code, 0);
      assert.match(connect.stderr, /PermissionDenied/);
      const mounts = Deno.readTextFileSync("/proc/mounts").split("\n").find((l) => l.includes(` ${mnt} `))!;
      assert.match(mounts, /default_permissions/);
      assert.doesNotMatch(mounts, /allow_other/);
      await Deno.writeTextFile(`${mnt}/open.txt`, "readable");
      const ls = await asNobody(`ls ${mnt}`);
      assert.notEqual(ls.code, 0, "another user listed a mount made without --allow-other");
      assert.match(ls.stderr, /Permission denied/);
      assert.notEqual((await asNobody(`cat ${mnt}/open.txt`)).code, 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("security: with --allow-other, other users get exactly what the permission bits give", async () => {
  const dir = await openDir();
  try {
    const store = `${dir}/store`, mnt = `${dir}/mnt`;
    await withMount(store, mnt, async () => {
      assert.match(Deno.readTextFileSync("/proc/mounts"), new RegExp(` ${mnt} fuse.revfs [^ ]*allow_other`));
      await Deno.chmod(mnt, 0o755);
      await Deno.writeTextFile(`${mnt}/public.txt`, "everyone");
      await Deno.chmod(`${mnt}/public.txt`, 0o644);
      await Deno.writeTextFile(`${mnt}/private.txt`, "root only");
      await Deno.chmod(`${mnt}/private.txt`, 0o600);
      assert.equal((await runCli("snapshot", store)).stdout, "1\n");
      assert.equal((await asNobody(`cat ${mnt}/public.txt`)).stdout, "everyone");
      for (const path of [`${mnt}/private.txt`, `${mnt}/.snapshots/1/private.txt`]) {
        const r = await asNobody(`cat ${path}`);
        assert.notEqual(r.code, 0, `nobody read ${path}`);
        assert.match(r.stderr, /Permission denied/);
      }
      const write = await asNobody(`echo x >> ${mnt}/public.txt`);
      assert.match(write.stderr, /Permission denied/);
      const create = await asNobody(`touch ${mnt}/mine.txt`);
      assert.match(create.stderr, /Permission denied/);
      assert.equal(await Deno.readTextFile(`${mnt}/public.txt`), "everyone");
    }, ["--allow-other"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
