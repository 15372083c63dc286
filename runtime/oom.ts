/**
 * @module runtime/oom
 * Whether the kernel's OOM killer struck inside a container's memory cgroup: the answer to
 * "why did the function's connection die?" when a function allocates past its limit. Read
 * from `memory.oom_control` (v1, field `oom_kill`, kernel ≥ 4.13) or `memory.events` (v2,
 * field `oom_kill`) of `<hierarchy>/fnrun/<id>`, which stays until the container is deleted.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CGROUP_PARENT, cgroupMounts, type CgroupMounts } from "./cgroup.ts";

/** The memory cgroup's file counting OOM kills of a container, or null when there is no memory controller. */
export function oomCounterFile(containerId: string, mounts: CgroupMounts = cgroupMounts()): string | null {
  const v1 = mounts.v1.get("memory");
  if (v1) return join(v1.mountPoint, CGROUP_PARENT, containerId, "memory.oom_control");
  if (mounts.unified) return join(mounts.unified.mountPoint, CGROUP_PARENT, containerId, "memory.events");
  return null;
}

/** Parses the `oom_kill N` line of memory.oom_control / memory.events (0 when absent). */
export function parseOomKills(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** How many processes the OOM killer killed in the container; null when that cannot be read (cgroup gone). */
export async function oomKills(containerId: string, mounts?: CgroupMounts): Promise<number | null> {
  const file = oomCounterFile(containerId, mounts);
  if (!file) return null;
  const text = await readFile(file, "utf8").catch(() => null);
  return text === null ? null : parseOomKills(text);
}
