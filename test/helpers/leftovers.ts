/**
 * @module test/helpers/leftovers
 * Counts, from the host side, what a daemon could leave behind: runc containers in its
 * state root, instance directories, cgroup directories and mounts.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
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

/**
 * `runc list -q` of a state root. It fails while a container is being deleted under it (its
 * state dir vanishes mid-listing), so a failure is retried; one that persists is thrown, never
 * read as "no containers" (a check for leftovers would then pass on nothing). No root: none.
 */
async function runcList(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  for (let attempt = 1; ; attempt++) {
    try {
      const { stdout } = await run("runc", ["--root", root, "list", "-q"]);
      return stdout.split("\n").filter(Boolean);
    } catch (err) {
      if (attempt >= 10) throw new Error(`runc --root ${root} list failed ${attempt} times: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** What remains of the containers of the daemon whose state dir is `stateDir`. */
export async function leftovers(stateDir: string, idPrefixes: string[] = []): Promise<Leftovers> {
  const containers = await runcList(join(stateDir, "runc"));
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
