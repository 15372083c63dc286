/**
 * @module test/runtime/rootfs-fixture
 * Lays out a base rootfs (builder's baseLayout with the real bootstrap) in a directory, plus
 * function files under /app, for runtime tests that start real containers.
 */
import { chmod, copyFile, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImageConfig, baseLayout, ENTRY_IN_IMAGE } from "../../builder/base-layout.ts";
import { bootstrapBundle } from "../../runtime/bootstrap/build.ts";
import type { ImageConfig } from "../../runtime/instance.ts";

/** Writes baseLayout's entries under `dir`, keeping modes. */
export async function layOutBase(dir: string): Promise<void> {
  for (const e of await baseLayout({ bootstrap: await bootstrapBundle() })) {
    const target = join(dir, e.path);
    if (e.type === "dir") await mkdir(target, { recursive: true });
    else if ("source" in e) await copyFile(e.source, target);
    else await writeFile(target, e.content);
    await chmod(target, e.mode); // mkdir/writeFile modes are filtered by the umask
  }
}

/**
 * A temp dir with `rootfs/` (base + `/app/<name>` for each of `apps`) and `state/`. Short
 * paths: the socket path must stay under 107 bytes.
 */
export async function makeFixture(apps: Record<string, string>): Promise<{ root: string; rootfs: string; stateDir: string; image: ImageConfig }> {
  const root = await mkdtemp(join(tmpdir(), "fnrun-"));
  // mkdtemp makes 0700; the container's root (host uid 100000) must traverse to its rootfs.
  await chmod(root, 0o755);
  const rootfs = join(root, "rootfs");
  await mkdir(rootfs);
  await layOutBase(rootfs);
  for (const [name, source] of Object.entries(apps)) {
    await writeFile(join(rootfs, "app", name), source);
    await chmod(join(rootfs, "app", name), 0o644);
  }
  const stateDir = join(root, "state");
  await mkdir(stateDir);
  const base = baseImageConfig();
  return { root, rootfs, stateDir, image: { ...base, Env: [...base.Env, `FNRUN_ENTRY=${ENTRY_IN_IMAGE}`] } };
}

/** The image config of a function whose bundle is /app/<name>. */
export function imageFor(image: ImageConfig, name: string): ImageConfig {
  return { ...image, Env: [...image.Env.filter((e) => !e.startsWith("FNRUN_ENTRY=")), `FNRUN_ENTRY=/app/${name}`] };
}
