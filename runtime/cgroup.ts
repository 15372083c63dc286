/**
 * @module runtime/cgroup
 * Reads and writes a container's cgroup limits straight from the kernel's files, on cgroup
 * v1, v2 and the hybrid layout (v1 controllers plus a v2 mount at /sys/fs/cgroup/unified).
 * Writing a file takes ~0.2 ms where `runc update` takes ~7 ms (FACTS.md): stem cells are
 * resized this way. Kernel doc: Documentation/admin-guide/cgroup-v1/memory.rst, cgroup-v2.rst.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "./errors.ts";
import { CPU_PERIOD_US } from "./spec.ts";

/** Every fnrun container's cgroup sits at `<hierarchy>/fnrun/<id>`. */
export const CGROUP_PARENT = "/fnrun";

/** The absolute cgroupsPath of a container (the same on v1 and v2). */
export function cgroupsPathFor(containerId: string): string {
  return `${CGROUP_PARENT}/${containerId}`;
}

export type CgroupMode = "v1" | "v2" | "hybrid";

/** Directories holding a process's memory, cpu and pids controller files. */
export interface CgroupPaths {
  memory: string;
  cpu: string;
  pids: string;
}

/** Limits as the kernel reports them; null = unlimited. */
export interface CgroupLimits {
  memoryBytes: number | null;
  cpuQuota: number | null;
  cpuPeriod: number;
  pids: number | null;
}

/** Limits to set (any subset); cpu is a share of cores as in the spec's withCpuLimit. */
export interface LimitsUpdate {
  memoryBytes?: number;
  cpu?: number;
  pids?: number;
}

/** Where the cgroup hierarchies are mounted: v1 controller → mount point, and the v2 mount. */
export interface CgroupMounts {
  v1: Map<string, { mountPoint: string; root: string }>;
  unified?: { mountPoint: string; root: string };
}

let mountsCache: CgroupMounts | undefined;

/** The cgroup mounts of this machine, from /proc/self/mountinfo (cached: they do not move). */
export function cgroupMounts(): CgroupMounts {
  return (mountsCache ??= parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8")));
}

/** v2 when /sys/fs/cgroup is cgroup2, hybrid when v1 controllers sit beside a cgroup2 mount, else v1. */
export function cgroupMode(mounts: CgroupMounts = cgroupMounts()): CgroupMode {
  if (mounts.v1.size === 0) return "v2";
  return mounts.unified ? "hybrid" : "v1";
}

/** Parses mountinfo(5) lines into cgroup mounts. */
export function parseMountinfo(text: string): CgroupMounts {
  const v1 = new Map<string, { mountPoint: string; root: string }>();
  let unified: CgroupMounts["unified"];
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const f = left.split(" ");
    const [fstype, , superOpts = ""] = right.split(" ");
    const root = unescapeMount(f[3]);
    const mountPoint = unescapeMount(f[4]);
    if (fstype === "cgroup2") unified = { mountPoint, root };
    else if (fstype === "cgroup") {
      for (const opt of superOpts.split(",")) {
        if (["rw", "ro"].includes(opt) || opt.startsWith("release_agent=") || opt === "clone_children") continue;
        v1.set(opt, { mountPoint, root }); // "memory", "cpu", "name=systemd", ...
      }
    }
  }
  return { v1, unified };
}

/**
 * Parses /proc/<pid>/cgroup ("4:memory:/fnrun/x", "1:cpu,cpuacct:/...", "0::/fnrun/x") into
 * the directories of the memory, cpu and pids controllers, given the mounts.
 */
export function parseProcCgroup(text: string, mounts: CgroupMounts): CgroupPaths {
  const v1Paths = new Map<string, string>();
  let unifiedPath: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") unifiedPath = m[3];
    else for (const c of m[2].split(",")) v1Paths.set(c, m[3]);
  }
  const dirOf = (controller: string): string => {
    const mount = mounts.v1.get(controller);
    const path = v1Paths.get(controller);
    if (mount && path !== undefined) return join(mount.mountPoint, relativeTo(path, mount.root));
    // v2: all controllers share the unified directory.
    if (mounts.v1.size === 0 && mounts.unified && unifiedPath !== undefined) return join(mounts.unified.mountPoint, relativeTo(unifiedPath, mounts.unified.root));
    throw new RuntimeError("FNRUN_CGROUP", `cgroup of controller \`${controller}\`: not found in /proc/<pid>/cgroup or the mounts`);
  };
  return { memory: dirOf("memory"), cpu: dirOf("cpu"), pids: dirOf("pids") };
}

/** The controller directories of a running process. */
export async function cgroupPathsOf(pid: number): Promise<CgroupPaths> {
  const text = await readFile(`/proc/${pid}/cgroup`, "utf8").catch((err: unknown) => {
    throw new RuntimeError("FNRUN_CGROUP", `read \`/proc/${pid}/cgroup\`: ${(err as Error).message}`, { cause: err });
  });
  return parseProcCgroup(text, cgroupMounts());
}

/** Reads memory, cpu and pids limits of a process's cgroup from the kernel files. */
export async function readLimits(pid: number): Promise<CgroupLimits> {
  const p = await cgroupPathsOf(pid);
  if (cgroupMode() === "v2") {
    const [quota, period] = (await readCg(join(p.cpu, "cpu.max"))).split(" ");
    return {
      memoryBytes: maxOrNumber(await readCg(join(p.memory, "memory.max"))),
      cpuQuota: maxOrNumber(quota),
      cpuPeriod: Number(period),
      pids: maxOrNumber(await readCg(join(p.pids, "pids.max"))),
    };
  }
  const mem = Number(await readCg(join(p.memory, "memory.limit_in_bytes")));
  const quota = Number(await readCg(join(p.cpu, "cpu.cfs_quota_us")));
  return {
    // v1 reports "unlimited" as PAGE_COUNTER_MAX * page size (9223372036854771712).
    memoryBytes: mem >= 2 ** 62 ? null : mem,
    cpuQuota: quota < 0 ? null : quota,
    cpuPeriod: Number(await readCg(join(p.cpu, "cpu.cfs_period_us"))),
    pids: maxOrNumber(await readCg(join(p.pids, "pids.max"))),
  };
}

/**
 * Writes limits into a process's cgroup files directly (memory+swap kept equal to memory).
 * The writes are synchronous: a stem cell's specialization waits for them, and five small
 * writes to kernel files take ~0.1-0.3 ms this way, where through libuv's thread pool (one
 * trip there and back each, three controllers side by side) they took ~2-3 ms on a loaded
 * 2-core machine. The event loop is blocked that long.
 */
export async function writeLimits(pid: number, limits: LimitsUpdate): Promise<void> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch (err) {
    throw new RuntimeError("FNRUN_CGROUP", `read \`/proc/${pid}/cgroup\`: ${(err as Error).message}`, { cause: err });
  }
  writeLimitsAt(parseProcCgroup(text, cgroupMounts()), limits);
}

/**
 * The controller directories of fnrun's container `id` (its cgroupsPath under each hierarchy),
 * known without asking the kernel: reading /proc/<pid>/cgroup costs ~0.2 ms of a stem start.
 */
export function containerCgroupPaths(id: string, mounts: CgroupMounts = cgroupMounts()): CgroupPaths {
  const path = cgroupsPathFor(id);
  return parseProcCgroup(mounts.v1.size === 0 ? `0::${path}` : ["memory", "cpu", "pids"].map((c, i) => `${i + 1}:${c}:${path}`).join("\n"), mounts);
}

/** writeLimits into known controller directories (containerCgroupPaths()), synchronously. */
export function writeLimitsAt(p: CgroupPaths, limits: LimitsUpdate): void {
  const v2 = cgroupMode() === "v2";
  if (limits.memoryBytes !== undefined) writeMemory(p.memory, limits.memoryBytes, v2);
  if (limits.cpu !== undefined) {
    const quota = Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US));
    if (v2) writeCg(join(p.cpu, "cpu.max"), `${quota} ${CPU_PERIOD_US}`);
    else {
      writeCg(join(p.cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
      writeCg(join(p.cpu, "cpu.cfs_quota_us"), String(quota));
    }
  }
  if (limits.pids !== undefined) writeCg(join(p.pids, "pids.max"), String(limits.pids));
}

function writeMemory(dir: string, memoryBytes: number, v2: boolean): void {
  const bytes = String(memoryBytes);
  if (v2) {
    writeCg(join(dir, "memory.max"), bytes);
    writeCg(join(dir, "memory.swap.max"), "0", true); // absent without swap accounting
    return;
  }
  // v1 demands memory.limit <= memsw.limit at every moment: raise memsw first, lower memory first.
  const mem = join(dir, "memory.limit_in_bytes");
  const memsw = join(dir, "memory.memsw.limit_in_bytes");
  const current = Number(readCgSync(mem));
  if (memoryBytes > current) {
    writeCg(memsw, bytes, true);
    writeCg(mem, bytes);
  } else {
    writeCg(mem, bytes);
    writeCg(memsw, bytes, true);
  }
}

/**
 * Removes `<hierarchy>/fnrun/<id>` from every cgroup hierarchy (v1 controllers, name=systemd,
 * unified). For orphans: runc delete removes them itself. A cgroup with tasks left is busy
 * (EBUSY) for a moment after a kill, so that is retried briefly.
 */
export async function removeCgroups(containerId: string, mounts: CgroupMounts = cgroupMounts()): Promise<void> {
  const points = new Set([...mounts.v1.values()].map((m) => m.mountPoint));
  if (mounts.unified) points.add(mounts.unified.mountPoint);
  const failures: string[] = [];
  await Promise.all(
    [...points].map(async (mp) => {
      const dir = join(mp, CGROUP_PARENT, containerId);
      for (let attempt = 0; ; attempt++) {
        try {
          await rmdir(dir);
          return;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT") return;
          if (code === "EBUSY" && attempt < 50) {
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          failures.push(`rmdir \`${dir}\`: ${(err as Error).message}`);
          return;
        }
      }
    }),
  );
  if (failures.length) throw new RuntimeError("FNRUN_CGROUP", failures.join("; "));
}

/**
 * SIGKILLs every process in the container's cgroups and returns how many it killed. This is
 * how a container is stopped when runc cannot do it (its state dir was removed under the
 * daemon): a cgroup lists exactly the container's processes, so unlike a remembered pid it
 * can never name a stranger that reused the number. A process forked between the read and
 * the kill is caught by the next round (the pids limit bounds how many there can be).
 */
export async function killCgroupProcs(containerId: string, mounts: CgroupMounts = cgroupMounts()): Promise<number> {
  const dirs = cgroupDirsOf(containerId, mounts);
  let killed = 0;
  for (let round = 0; round < 100; round++) {
    const pids = new Set<number>();
    for (const dir of dirs) {
      const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
      for (const line of text.split("\n")) if (line) pids.add(Number(line));
    }
    if (pids.size === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        killed++;
      } catch {
        // ESRCH: it died meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return killed;
}

/**
 * Removes the `/fnrun` parent cgroup in every hierarchy when it holds no container any more
 * (runc creates it; nothing else removes it). For a daemon's shutdown, after its containers
 * are gone: rmdir of a parent that still has children fails (EBUSY) and is left alone.
 */
export async function removeEmptyParents(mounts: CgroupMounts = cgroupMounts()): Promise<void> {
  const points = new Set([...mounts.v1.values()].map((m) => m.mountPoint));
  if (mounts.unified) points.add(mounts.unified.mountPoint);
  await Promise.all([...points].map((mp) => rmdir(join(mp, CGROUP_PARENT)).catch(() => {})));
}

/** Directories `<hierarchy>/fnrun/<id>` of a container that exist now (for tests and diagnostics). */
export function cgroupDirsOf(containerId: string, mounts: CgroupMounts = cgroupMounts()): string[] {
  const points = new Set([...mounts.v1.values()].map((m) => m.mountPoint));
  if (mounts.unified) points.add(mounts.unified.mountPoint);
  return [...points].map((mp) => join(mp, CGROUP_PARENT, containerId));
}

async function readCg(path: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    throw new RuntimeError("FNRUN_CGROUP", `read \`${path}\`: ${(err as Error).message}`, { cause: err });
  }
}

function readCgSync(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new RuntimeError("FNRUN_CGROUP", `read \`${path}\`: ${(err as Error).message}`, { cause: err });
  }
}

function writeCg(path: string, value: string, optional = false): void {
  try {
    writeFileSync(path, value);
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new RuntimeError("FNRUN_CGROUP", `write ${value} to \`${path}\`: ${(err as Error).message}`, { cause: err });
  }
}

function maxOrNumber(s: string | undefined): number | null {
  return s === undefined || s === "max" ? null : Number(s);
}

function relativeTo(path: string, root: string): string {
  if (root === "/" || !path.startsWith(root)) return path;
  return path.slice(root.length) || "/";
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
