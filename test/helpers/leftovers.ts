/**
 * @module test/helpers/leftovers
 * Counts, from the host side, what a daemon could leave behind: runc containers in its
 * state root, instance directories, cgroup directories and mounts.
 */
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Leftovers {
  containers: string[];
  instanceDirs: string[];
  cgroups: string[];
  mounts: string[];
}

async function list(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

/** What remains of the containers of the daemon whose state dir is `stateDir`. */
export async function leftovers(stateDir: string, idPrefixes: string[] = []): Promise<Leftovers> {
  const { stdout } = await run("runc", ["--root", join(stateDir, "runc"), "list", "-q"]).catch(() => ({ stdout: "" }));
  const containers = stdout.split("\n").filter(Boolean);
  const instanceDirs = await list(join(stateDir, "instances"));
  const cgroups: string[] = [];
  for (const base of ["/sys/fs/cgroup/memory/fnrun", "/sys/fs/cgroup/pids/fnrun", "/sys/fs/cgroup/cpu/fnrun", "/sys/fs/cgroup/fnrun"]) {
    for (const name of await list(base)) {
      if (idPrefixes.length === 0 || idPrefixes.some((p) => name.startsWith(p))) cgroups.push(join(base, name));
    }
  }
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const mounts = mountinfo.split("\n").filter((l) => l.includes(stateDir));
  return { containers, instanceDirs, cgroups, mounts };
}
