/**
 * @module builder/fs-util
 * Temp names that say who wrote them, so leftovers of a crashed process can be told apart
 * from work in progress of a live one sharing the state directory.
 */
import { randomBytes } from "node:crypto";
import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";

/** `<prefix><pid>-<random>`: unique, and carrying the writer's pid. */
export function tempName(prefix = ""): string {
  return `${prefix}${process.pid}-${randomBytes(6).toString("hex")}`;
}

/** Removes the `tempName(prefix)` entries of `dir` whose writer process is gone. */
export async function removeOrphans(dir: string, prefix = ""): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (pid && (pid === process.pid || isAlive(pid))) continue;
    await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
