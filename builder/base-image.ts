/**
 * @module builder/base-image
 * The base image every function image starts FROM: the host's node, the libraries it links
 * and the runtime's bootstrap, in one layer. Built once per (node version, bootstrap, image
 * config); all three are in the tag, so a new bootstrap, node or config (ports, user, stop
 * signal) gives a new base in a store that has an older one, never a stale one under the old tag.
 */
import { createHash } from "node:crypto";
import { baseImageConfig, baseLayout, type BaseLayoutOptions } from "./base-layout.ts";
import { ImageError } from "./errors.ts";
import type { LayerEntry } from "./layer.ts";
import type { ImageInfo, ImageStore } from "./oci-layout.ts";

/**
 * gzip level of the base layer: level 1 compresses the ~100 MB node binary several times faster
 * than the default 6 for a few percent more bytes, and the store is local.
 */
const BASE_LAYER_GZIP_LEVEL = 1;

export interface EnsureBaseImageOptions extends BaseLayoutOptions {
  /** The node version the base carries; defaults to the running node's. */
  nodeVersion?: string;
}

/** `fnrun/base:node-<version>-<first 12 hex of sha256(bootstrap, NUL, the image config's JSON)>` */
export function baseImageTag(options: { bootstrap: string; nodeVersion?: string }): string {
  const version = options.nodeVersion ?? process.versions.node;
  const hash = createHash("sha256").update(options.bootstrap).update("\0").update(JSON.stringify(baseImageConfig())).digest("hex").slice(0, 12);
  return `fnrun/base:node-${version}-${hash}`;
}

/** Returns the base image, building and tagging it if the store does not have it yet. */
export async function ensureBaseImage(store: ImageStore, options: EnsureBaseImageOptions): Promise<ImageInfo> {
  const tag = baseImageTag(options);
  try {
    return await store.resolve(tag);
  } catch (err) {
    if (!(err instanceof ImageError && err.code === "FNRUN_IMAGE_NOT_FOUND")) throw err;
  }
  const entries: LayerEntry[] = await baseLayout(options);
  const version = options.nodeVersion ?? process.versions.node;
  return store.putImage(tag, [{ entries, level: BASE_LAYER_GZIP_LEVEL, createdBy: `fnrun base: node ${version}, its shared libraries, /fnrun/bootstrap.mjs` }], baseImageConfig());
}
