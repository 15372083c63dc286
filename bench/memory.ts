/**
 * @module bench/memory
 * Memory of containers as their cgroup counts it: `memory.usage_in_bytes` (cgroup v1 and the
 * hybrid layout) or `memory.current` (v2) of `<hierarchy>/fnrun/<container id>`, plus the
 * anonymous (rss) part from memory.stat. Container ids come from the daemon's runc root.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { cgroupMode } from "../runtime/cgroup.ts";
import { isStemCell, type DaemonProcess } from "./daemon.ts";
import { get, median, MiB, sleep } from "./lib.ts";

export interface CgroupMemory {
  id: string;
  /** What the cgroup is charged (what a memory limit is checked against). */
  usage: number;
  /** Anonymous memory (rss on v1, anon on v2). */
  rss: number;
  limit: number;
}

export async function cgroupMemory(id: string): Promise<CgroupMemory> {
  if (cgroupMode() === "v2") {
    const dir = join("/sys/fs/cgroup/fnrun", id);
    const stat = await readFile(join(dir, "memory.stat"), "utf8");
    const max = (await readFile(join(dir, "memory.max"), "utf8")).trim();
    return {
      id,
      usage: Number(await readFile(join(dir, "memory.current"), "utf8")),
      rss: Number(/^anon (\d+)$/m.exec(stat)?.[1] ?? NaN),
      limit: max === "max" ? Infinity : Number(max),
    };
  }
  const dir = join("/sys/fs/cgroup/memory/fnrun", id);
  const stat = await readFile(join(dir, "memory.stat"), "utf8");
  return {
    id,
    usage: Number(await readFile(join(dir, "memory.usage_in_bytes"), "utf8")),
    rss: Number(/^total_rss (\d+)$/m.exec(stat)?.[1] ?? /^rss (\d+)$/m.exec(stat)?.[1] ?? NaN),
    limit: Number(await readFile(join(dir, "memory.limit_in_bytes"), "utf8")),
  };
}

/** Containers of a function: ids the daemon gives its instances start with `<name>-`. */
export async function containersOf(daemon: DaemonProcess, fn: string): Promise<string[]> {
  return (await daemon.containers()).filter((id) => id.startsWith(`${fn.slice(0, 24)}-`));
}

/**
 * An idle warm instance: the function's one warm instance (min_instances = 1) answers one
 * request, then sits idle for `idleMs`; its cgroup is read then.
 */
export async function measureIdleInstance(daemon: DaemonProcess, fn: string, url: string, idleMs = 1500): Promise<CgroupMemory> {
  const res = await get(url);
  if (res.status !== 200) throw new Error(`idle instance: ${url} answered ${res.status}: ${res.body}`);
  await sleep(idleMs);
  const ids = await containersOf(daemon, fn);
  if (ids.length !== 1) throw new Error(`idle instance: expected 1 container of ${fn}, found ${ids.length}: ${ids.join(", ")}`);
  return cgroupMemory(ids[0]);
}

/** Stem cells: the containers named `stem-*` (the daemon may hold warm instances of other functions beside them). */
export async function measureStemCells(daemon: DaemonProcess): Promise<CgroupMemory[]> {
  const out: CgroupMemory[] = [];
  for (const id of (await daemon.containers()).filter(isStemCell)) out.push(await cgroupMemory(id));
  return out;
}

export interface HundredResult {
  functions: number;
  perFunction: number;
  memoryLimit: number;
  budget: number;
  /** Containers in the runc root, and how many instances the pools report. */
  containers: number;
  poolInstances: number;
  /** Sums over the containers' cgroups. */
  usageSum: number;
  rssSum: number;
  limitSum: number;
  medianUsage: number;
  maxUsage: number;
  /** Functions that answered 200 to one request after the memory was read. */
  answered: number;
  /** ms from `fnrun up` to serving (base image, 10 deploys, 100 instances warmed). */
  startupMs: number;
}

/** Reads every container of a daemon holding `functions` × `perFunction` warm instances. */
export async function measureHundred(daemon: DaemonProcess, fns: string[], perFunction: number, memoryLimit: number, budget: number): Promise<HundredResult> {
  const stats = await daemon.functions();
  const poolInstances = fns.reduce((a, f) => a + (stats.get(f)?.instances ?? 0), 0);
  const ids = await daemon.containers();
  const mems: CgroupMemory[] = [];
  for (const id of ids) mems.push(await cgroupMemory(id).catch(() => ({ id, usage: NaN, rss: NaN, limit: NaN })));
  let answered = 0;
  for (const f of fns) {
    const res = await get(`${daemon.url}/${f}`).catch(() => null);
    if (res?.status === 200) answered++;
  }
  return {
    functions: fns.length,
    perFunction,
    memoryLimit,
    budget,
    containers: ids.length,
    poolInstances,
    usageSum: mems.reduce((a, m) => a + m.usage, 0),
    rssSum: mems.reduce((a, m) => a + m.rss, 0),
    limitSum: mems.reduce((a, m) => a + m.limit, 0),
    medianUsage: median(mems.map((m) => m.usage)),
    maxUsage: Math.max(...mems.map((m) => m.usage)),
    answered,
    startupMs: daemon.startupMs,
  };
}

export { MiB };
