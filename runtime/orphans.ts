/**
 * @module runtime/orphans
 * Cleans up after a daemon that died without stopping its containers (SIGKILL, power loss):
 * every container in fnrun's runc root, its cgroups and every instance directory.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { removeCgroups } from "./cgroup.ts";
import { destroyContainer } from "./instance.ts";
import type { Runc } from "./runc.ts";

/** Kills and deletes all containers of `runc`'s root and removes `<state>/instances/*`. Returns the ids removed. */
export async function cleanupOrphans(stateDir: string, runc: Runc): Promise<string[]> {
  const instancesDir = join(stateDir, "instances");
  const containers = await runc.list();
  const dirs = await readdir(instancesDir).catch(() => [] as string[]);
  await Promise.all(containers.map((c) => destroyContainer(runc, c.id, join(instancesDir, c.id), { pid: c.pid })));
  // A dir without a container: the daemon died between mkdir and `runc create`, or mid-delete.
  const known = new Set(containers.map((c) => c.id));
  await Promise.all(
    dirs.filter((d) => !known.has(d)).map(async (d) => {
      await removeCgroups(d);
      await destroyContainer(runc, d, join(instancesDir, d), false);
    }),
  );
  return [...new Set([...known, ...dirs])];
}
