/**
 * @module runtime/live-containers
 * The containers this process created and has not removed yet, by id. It is the daemon's last
 * resort at shutdown: when runc cannot stop a container (its state under `<state>/runc` was
 * removed, runc hangs), the ids still name the cgroups whose processes can be killed directly.
 */
import { rm } from "node:fs/promises";
import { killCgroupProcs, removeCgroups } from "./cgroup.ts";

const live = new Map<string, { dir: string }>();

/** Records a container about to be created (its instance dir is `dir`). */
export function trackContainer(id: string, dir: string): void {
  live.set(id, { dir });
}

/** The container is gone (destroyContainer removed it). */
export function untrackContainer(id: string): void {
  live.delete(id);
}

/** Ids of the containers created and not yet removed. */
export function liveContainers(): string[] {
  return [...live.keys()];
}

/**
 * Kills every process of every live container by its cgroup, then removes the cgroups and the
 * instance dirs, without runc. Returns the ids handled; failures are collected, not thrown, so
 * one stuck container does not keep the others alive.
 */
export async function killLiveContainers(): Promise<{ ids: string[]; errors: string[] }> {
  const ids = [...live.keys()];
  const errors: string[] = [];
  await Promise.all(
    ids.map(async (id) => {
      try {
        await killCgroupProcs(id);
        await removeCgroups(id);
        await rm(live.get(id)!.dir, { recursive: true, force: true });
        live.delete(id);
      } catch (err) {
        errors.push(`${id}: ${(err as Error).message}`);
      }
    }),
  );
  return { ids, errors };
}
