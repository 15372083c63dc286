/**
 * The seccomp profile at the kernel: a runc container built from fnrun's spec options, with
 * the host's /usr bound in read-only (python's ctypes makes the raw syscalls node cannot),
 * calls each blocked syscall. A control run with the same spec minus seccomp shows the
 * refusals are the filter's doing where the kernel alone would have allowed the call.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { cgroupsPathFor, removeCgroups, removeEmptyParents } from "../../runtime/cgroup.ts";
import { HOST_ID_BASE, ID_MAP_SIZE } from "../../runtime/instance.ts";
import {
  generateSpec, withCgroupsPath, withNamespaces, withNoCapabilities, withNoNewPrivileges, withPidsLimit, withProcess,
  withRootfs, withSeccomp, withUser, withUserNamespace, type SpecOpt,
} from "../../runtime/spec.ts";

// runc makes the /fnrun parent cgroups for this file's containers; nothing else here removes them.
after(() => removeEmptyParents());

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, "../fixtures/security/syscalls.py");
const EPERM = 1;
const ENOSYS = 38;

describe("seccomp profile in the kernel (runc, host /usr read-only, python ctypes)", { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "fnrun-sc-"));
  // uid 100000 (root of the user namespace) must reach the rootfs; Debian's merged /usr makes
  // /bin, /lib and /lib64 links into it.
  await chmod(root, 0o755);
  const rootfs = join(root, "rootfs");
  for (const d of ["proc", "dev", "sys", "tmp", "usr", "etc"]) await mkdir(join(rootfs, d), { recursive: true });
  for (const l of ["bin", "lib", "lib64", "sbin"]) await symlink(`usr/${l}`, join(rootfs, l));
  const usr: SpecOpt = (s) => { s.mounts.push({ destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro", "nosuid", "nodev"] }); };
  const ids: string[] = [];
  after(async () => {
    for (const id of ids) {
      await run("runc", ["--root", join(root, "runc"), "delete", "--force", id]).catch(() => {});
      await removeCgroups(id).catch(() => {});
    }
    await rm(root, { recursive: true, force: true });
  });

  /** Runs the probe script in a container built from fnrun's options (+ `extra`); returns {syscall: errno}. */
  async function probe(name: string, extra: SpecOpt[]): Promise<Record<string, number>> {
    const id = `sc${process.pid}-${name}`;
    ids.push(id);
    const bundle = join(root, name);
    await mkdir(bundle);
    // The script comes on stdin: no host path of ours needs to be reachable by uid 100000.
    const spec = generateSpec(
      withRootfs(rootfs, true),
      usr,
      withProcess({ args: ["/usr/bin/python3", "-c", "import sys; exec(sys.stdin.read())"], env: ["PATH=/usr/bin:/bin"], cwd: "/" }),
      withUser(0, 0),
      withNamespaces(["pid", "mount", "ipc", "uts", "network", "cgroup"]),
      withUserNamespace(HOST_ID_BASE, ID_MAP_SIZE),
      withCgroupsPath(cgroupsPathFor(id)),
      withPidsLimit(32),
      withNoNewPrivileges(),
      withNoCapabilities(),
      ...extra,
    );
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const script = await readFile(SCRIPT, "utf8");
    const child = execFile("runc", ["--root", join(root, "runc"), "run", "--bundle", bundle, id], { timeout: 60_000 });
    child.stdin!.end(script);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on("close", r));
    assert.equal(code, 0, `probe ${name} exited ${code}: ${stderr}`);
    return JSON.parse(stdout.trim().split("\n").pop()!);
  }

  const withFilter = await probe("filtered", [withSeccomp()]);
  const without = await probe("control", []);

  test("every blocked syscall fails with EPERM (clone3: ENOSYS, so libc falls back to clone)", () => {
    for (const [name, errno] of Object.entries(withFilter)) {
      if (name === "clone(SIGCHLD)" || name.startsWith("socket(AF_INET")) continue;
      assert.equal(errno, name === "clone3" ? ENOSYS : EPERM, `${name}: errno ${errno}`);
    }
  });

  test("what the filter alone refuses: without it the kernel lets an unprivileged process get further", () => {
    // Without the filter these succeed (0) or fail later in the kernel (ENOENT, EINVAL): never at the door with EPERM.
    const names = ["unshare(CLONE_NEWUSER)", "unshare(CLONE_NEWNS)", "clone(CLONE_NEWNET)", "io_uring_setup", "socket(AF_VSOCK)", "mount", "umount2", "keyctl", "add_key", "bpf", "setns", "clone3"];
    for (const name of names) assert.notEqual(without[name], withFilter[name], `${name}: errno ${without[name]} without the filter, ${withFilter[name]} with it`);
  });

  test("plain fork and ordinary sockets still work under the filter", () => {
    assert.equal(withFilter["clone(SIGCHLD)"], 0);
    assert.equal(withFilter["socket(AF_INET, AF_UNIX)"], 0);
  });
});
