/**
 * @module builder/image-archive
 * `fnrun image save`: a stored image as one tar that other tools load.
 *
 * - `docker`: what `docker save` writes since Docker 25 — an OCI image layout (oci-layout,
 *   index.json, blobs/sha256/…) plus the legacy `manifest.json` (`[{Config, RepoTags,
 *   Layers}]`, paths into blobs/) that `docker load` reads; layers stay gzipped, which
 *   `docker load` accepts (it detects the compression of each layer file).
 * - `oci`: the OCI image layout alone (image-spec image-layout.md), as `skopeo copy
 *   oci-archive:` and `podman load` read it.
 * Entries are written in a fixed order with mtime 0, so the same image gives the same archive.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { digestHex, INDEX_MEDIA_TYPE, REF_NAME_ANNOTATION, type Manifest } from "./oci-image.ts";
import type { ImageStore } from "./oci-layout.ts";

export type ArchiveFormat = "docker" | "oci";

/** Writes the archive of `ref` to `out`; `repoTag` (docker's `name:tag`) defaults to the ref itself. */
export async function writeImageArchive(store: ImageStore, ref: string, out: Writable, options: { format: ArchiveFormat; repoTag?: string }): Promise<void> {
  const image = await store.resolve(ref);
  const manifestBytes = await store.readBlob(image.digest);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as Manifest;
  const repoTag = options.repoTag ?? (ref.startsWith("sha256:") ? undefined : ref);
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const fixed = { mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "", mode: 0o644 };
  const add = (name: string, body: Buffer | string) =>
    new Promise<void>((resolve, reject) => pack.entry({ ...fixed, name }, body, (err) => (err ? reject(err) : resolve())));
  try {
    await add("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    const annotations: Record<string, string> = repoTag ? { [REF_NAME_ANNOTATION]: options.format === "oci" ? tagOf(repoTag) : repoTag, "io.containerd.image.name": repoTag } : {};
    const index = { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [{ mediaType: manifest.mediaType, digest: image.digest, size: manifestBytes.length, ...(repoTag ? { annotations } : {}) }] };
    await add("index.json", JSON.stringify(index));
    await add(`blobs/sha256/${digestHex(image.digest)}`, manifestBytes);
    await add(`blobs/sha256/${digestHex(manifest.config.digest)}`, await store.readBlob(manifest.config.digest));
    const seen = new Set<string>();
    for (const layer of manifest.layers) {
      if (seen.has(layer.digest)) continue;
      seen.add(layer.digest);
      const file = store.blobPath(layer.digest);
      const { size } = await stat(file);
      await pipeline(createReadStream(file), pack.entry({ ...fixed, name: `blobs/sha256/${digestHex(layer.digest)}`, size }));
    }
    if (options.format === "docker") {
      const legacy = [{ Config: `blobs/sha256/${digestHex(manifest.config.digest)}`, RepoTags: repoTag ? [repoTag] : [], Layers: manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`) }];
      await add("manifest.json", JSON.stringify(legacy));
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
  await done;
}

/** The tag part of `name:tag` (OCI layouts name images by tag; skopeo's oci-archive:FILE:TAG). */
function tagOf(repoTag: string): string {
  const slash = repoTag.lastIndexOf("/");
  const colon = repoTag.lastIndexOf(":");
  return colon > slash ? repoTag.slice(colon + 1) : "latest";
}
