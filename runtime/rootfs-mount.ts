/**
 * @module runtime/rootfs-mount
 * Makes the unpacked rootfs directories reachable by user-namespaced containers.
 *
 * runc mounts a container's rootfs from inside its user namespace, as the mapped host uid
 * (100000 here). That uid needs search permission on every folder above the rootfs, which
 * a state_dir under /root (0700) or a mkdtemp folder (0700) does not give. runc 1.1 opens
 * other bind-mount sources from the host side, but not the rootfs. So, like Docker keeping
 * its remapped roots under a 0711 /var/lib/docker, the daemon bind-mounts
 * `<state_dir>/rootfs` onto `/run/fnrun/<hash of state_dir>` (0711 all the way) and gives
 * runc paths below that. The mount is removed on close(); after a SIGKILL the next daemon
 * on the same state_dir replaces it.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, rmdir } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { RuntimeError } from "./errors.ts";

const run = promisify(execFile);
const RUN_DIR = "/run/fnrun";
const MIN_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

export class RootfsMount {
  readonly source: string;
  readonly target: string;

  private constructor(source: string, target: string) {
    this.source = source;
    this.target = target;
  }

  /** Bind-mounts `<stateDir>/rootfs` at a path every mapped uid can traverse. */
  static async open(stateDir: string, runDir = RUN_DIR): Promise<RootfsMount> {
    const source = resolve(stateDir, "rootfs");
    const target = targetOf(stateDir, runDir);
    await mkdir(source, { recursive: true });
    await chmod(source, 0o711);
    await mkdir(target, { recursive: true });
    await chmod(runDir, 0o711);
    await chmod(target, 0o711);
    // A daemon killed with SIGKILL left its mount: take it down before mounting again.
    while (await isMountPoint(target)) await umount(target);
    try {
      await run("mount", ["--bind", source, target], { env: MIN_ENV });
      await run("mount", ["--make-private", target], { env: MIN_ENV });
    } catch (err) {
      throw new RuntimeError("FNRUN_ROOTFS_MOUNT", `mount --bind \`${source}\` \`${target}\`: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { cause: err });
    }
    return new RootfsMount(source, target);
  }

  /** Takes down the mount a daemon on `stateDir` left (after a SIGKILL), if there is one. */
  static async release(stateDir: string, runDir = RUN_DIR): Promise<void> {
    const target = targetOf(stateDir, runDir);
    while (await isMountPoint(target)) await umount(target);
    await rmdir(target).catch(() => {});
  }

  /** The path runc should use for a rootfs that is unpacked at `dir` (inside `<state_dir>/rootfs`). */
  pathOf(dir: string): string {
    const rel = relative(this.source, resolve(dir));
    if (rel.startsWith("..") || rel === "") throw new RuntimeError("FNRUN_ROOTFS_MOUNT", `rootfs \`${dir}\` is not inside \`${this.source}\``);
    return join(this.target, rel);
  }

  async close(): Promise<void> {
    while (await isMountPoint(this.target)) await umount(this.target);
    await rmdir(this.target).catch(() => {});
  }
}

function targetOf(stateDir: string, runDir: string): string {
  return join(runDir, createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 16));
}

async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  // Field 5 is the mount point; spaces in it are escaped as \040 (proc(5)).
  return info.split("\n").some((line) => line.split(" ")[4]?.replace(/\\040/g, " ") === path);
}

async function umount(path: string): Promise<void> {
  try {
    await run("umount", [path], { env: MIN_ENV });
  } catch {
    // Busy: detach it now, the kernel frees it when the last user goes (umount(8) --lazy).
    await run("umount", ["--lazy", path], { env: MIN_ENV });
  }
}
