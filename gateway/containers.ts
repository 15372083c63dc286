/**
 * @module gateway/containers
 * `fnrun ps`: every container on this state dir's runc root — function instances, stem cells,
 * one-offs — with its image, its limits as the kernel enforces them (a specialized stem cell
 * has its function's, not those it started with) and its state. Built from runc's own list,
 * not from what the daemon believes.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ImageStore } from "../builder/index.ts";
import { readLimits } from "../runtime/cgroup.ts";
import type { Runc } from "../runtime/runc.ts";
import type { FunctionPools } from "./function-definition.ts";
import { oneOffs } from "./one-off.ts";

export interface ContainerInfo {
  id: string;
  kind: "instance" | "stem" | "one-off";
  /** The function an instance serves. */
  function: string | null;
  image: string;
  state: string;
  pid: number;
  limits: { memoryBytes: number | null; cpu: number | null; pids: number | null };
}

export async function listContainers(opts: { runc: Runc; store: ImageStore; pools: FunctionPools }): Promise<ContainerInfo[]> {
  const serving = new Map<string, string>();
  for (const p of opts.pools.list()) for (const i of p.list) serving.set(i.id, p.name);
  // rootfs dir (chain id) → the image refs whose whole chain it is
  const imageOf = new Map<string, string[]>();
  for (const t of await opts.store.tags()) {
    const image = await opts.store.resolve(t.digest).catch(() => null);
    if (!image) continue;
    const key = opts.store.rootfsKeys(image.layers).at(-1)!;
    imageOf.set(key, [...(imageOf.get(key) ?? []), t.ref]);
  }
  const out: ContainerInfo[] = [];
  for (const c of await opts.runc.list()) {
    const spec = c.bundle ? await readFile(join(c.bundle, "config.json"), "utf8").then((t) => JSON.parse(t) as SpecView, () => null) : null;
    const key = spec?.root?.path ? basename(spec.root.path) : "";
    const oneOff = oneOffs.get(c.id);
    const fn = serving.get(c.id) ?? null;
    const kernel = c.status === "running" ? await readLimits(c.pid).catch(() => null) : null;
    const r = spec?.linux?.resources;
    out.push({
      id: c.id,
      kind: oneOff ? "one-off" : fn || !c.id.startsWith("stem-") ? "instance" : "stem",
      function: fn,
      image: oneOff?.image ?? imageOf.get(key)?.sort()[0] ?? (key ? `rootfs ${key.slice(0, 12)}` : "?"),
      state: c.status,
      pid: c.pid,
      limits: kernel
        ? { memoryBytes: kernel.memoryBytes, cpu: kernel.cpuQuota === null ? null : kernel.cpuQuota / kernel.cpuPeriod, pids: kernel.pids }
        : { memoryBytes: r?.memory?.limit ?? null, cpu: r?.cpu?.quota && r.cpu.period ? r.cpu.quota / r.cpu.period : null, pids: r?.pids?.limit ?? null },
    });
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
}

interface SpecView {
  root?: { path?: string };
  linux?: { resources?: { memory?: { limit?: number }; cpu?: { quota?: number; period?: number }; pids?: { limit?: number } } };
}
