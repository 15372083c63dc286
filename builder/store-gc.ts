/**
 * @module builder/store-gc
 * Garbage collection of the image store (`fnrun images prune`): mark every blob reachable from
 * a tag or from an image the caller says is in use (deployed, draining, the stem cells' base),
 * and every rootfs of such an image's layer chain (its parents too: later builds clone them);
 * sweep the rest. It holds the store's lock exclusively, so no build, pull or unpack runs
 * meanwhile and a blob written but not yet tagged is never swept.
 */
import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { ImageStore } from "./oci-layout.ts";

export interface GcOptions {
  /** Manifest digests in use: kept, with everything they need, tagged or not. */
  inUse: Iterable<string>;
  /** Rootfs directory names (chain id hex) a running container uses, whatever its image. */
  keepRootfs?: Iterable<string>;
  /** Tags to drop first (unless the image is in use), e.g. old function revisions. */
  untag?: (ref: string) => boolean;
}

export interface GcResult {
  untagged: string[];
  blobs: number;
  bytes: number;
  rootfs: number;
}

export function collectGarbage(store: ImageStore, options: GcOptions): Promise<GcResult> {
  return store.lock.exclusive(async () => {
    const inUse = new Set(options.inUse);
    const untagged: string[] = [];
    for (const t of await store.tags()) {
      if (options.untag?.(t.ref) && !inUse.has(t.digest)) {
        await store.untag(t.ref);
        untagged.push(t.ref);
      }
    }
    const liveBlobs = new Set<string>();
    const liveRootfs = new Set<string>(options.keepRootfs ?? []);
    const roots = new Set([...(await store.tags()).map((t) => t.digest), ...inUse]);
    for (const digest of roots) {
      if (!(await store.hasBlob(digest))) continue;
      const image = await store.resolve(digest);
      const manifest = JSON.parse((await store.readBlob(digest)).toString("utf8")) as { config: { digest: string } };
      liveBlobs.add(digest);
      liveBlobs.add(manifest.config.digest);
      for (const l of image.layers) liveBlobs.add(l.digest);
      for (const key of store.rootfsKeys(image.layers)) liveRootfs.add(key);
    }
    let blobs = 0;
    let bytes = 0;
    const blobDir = path.join(store.layoutDir, "blobs", "sha256");
    for (const hex of await readdir(blobDir)) {
      if (liveBlobs.has(`sha256:${hex}`)) continue;
      const file = path.join(blobDir, hex);
      bytes += await stat(file).then((s) => s.size, () => 0);
      await rm(file, { force: true });
      blobs++;
    }
    let rootfs = 0;
    const rootfsDir = path.join(store.stateDir, "rootfs");
    for (const name of await readdir(rootfsDir).catch(() => [] as string[])) {
      // `.tmp-` dirs are unpacks in progress (or of dead processes, which init() removes).
      if (name.startsWith(".") || liveRootfs.has(name)) continue;
      await rm(path.join(rootfsDir, name), { recursive: true, force: true });
      rootfs++;
    }
    return { untagged, blobs, bytes, rootfs };
  });
}
