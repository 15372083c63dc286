/**
 * @module builder/oci-import
 * Brings an image from an OCI image layout directory (what `buildah push oci:DIR` and
 * `docker save` since Docker 25 write) into the store: every blob is hashed and checked
 * against its descriptor before it is renamed in, the manifest last, then the tag. Layers
 * stored uncompressed (docker save) are gzipped on the way, since the store unpacks gzip;
 * their diff_ids do not change, only the manifest does.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { ImageError } from "./errors.ts";
import { HashStream } from "./layer.ts";
import { digestHex, INDEX_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, type Descriptor, type Manifest } from "./oci-image.ts";
import type { ImageInfo, ImageStore } from "./oci-layout.ts";

const GZIP_LAYERS = new Set([LAYER_MEDIA_TYPE, "application/vnd.docker.image.rootfs.diff.tar.gzip"]);
const TAR_LAYERS = new Set(["application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar"]);

/** Imports the (first, or the one named `name`) image of the layout at `dir` as `tag`. */
export function importLayout(store: ImageStore, dir: string, tag: string, name?: string): Promise<ImageInfo> {
  return store.lock.shared(() => importImage(store, dir, tag, name));
}

async function importImage(store: ImageStore, dir: string, tag: string, name?: string): Promise<ImageInfo> {
  const blobFile = (digest: string) => path.join(dir, "blobs", "sha256", digestHex(digest));
  const readVerified = async (d: Descriptor): Promise<Buffer> => {
    const bytes = await readFile(blobFile(d.digest));
    const got = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (got !== d.digest || bytes.length !== d.size) throw corrupt(dir, d.digest, `content has digest ${got} and ${bytes.length} bytes`);
    return bytes;
  };
  const index = JSON.parse(await readFile(path.join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  let desc = (name ? index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === name) : undefined) ?? index.manifests[0];
  if (!desc) throw new ImageError("FNRUN_IMAGE_NOT_FOUND", `import \`${dir}\`: index.json lists no image`);
  if (desc.mediaType === INDEX_MEDIA_TYPE) desc = (JSON.parse((await readVerified(desc)).toString("utf8")) as { manifests: Descriptor[] }).manifests[0];
  let manifestBytes = await readVerified(desc);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as Manifest;
  let rewritten = false;
  await store.commitBlob(await copyVerified(store, blobFile(manifest.config.digest), manifest.config, dir), manifest.config.digest);
  for (const [i, layer] of manifest.layers.entries()) {
    if (GZIP_LAYERS.has(layer.mediaType)) {
      await store.commitBlob(await copyVerified(store, blobFile(layer.digest), layer, dir), layer.digest);
    } else if (TAR_LAYERS.has(layer.mediaType)) {
      manifest.layers[i] = await gzipLayer(store, blobFile(layer.digest), layer, dir);
      rewritten = true;
    } else {
      throw new ImageError("FNRUN_IMAGE_CORRUPT", `import \`${dir}\`: layer \`${layer.digest}\` is \`${layer.mediaType}\`; fnrun reads tar and gzipped tar layers`);
    }
  }
  if (rewritten) manifestBytes = Buffer.from(JSON.stringify({ ...manifest, mediaType: MANIFEST_MEDIA_TYPE }));
  const stored = await store.putBlob(manifestBytes);
  await store.tag(tag, { mediaType: rewritten ? MANIFEST_MEDIA_TYPE : (manifest.mediaType ?? desc.mediaType), digest: stored.digest, size: stored.size });
  return store.resolve(tag);
}

/** Copies a blob into a store temp file while hashing it; throws unless it matches `d`. */
async function copyVerified(store: ImageStore, src: string, d: Descriptor, dir: string): Promise<string> {
  const tmp = store.tempPath();
  const hash = new HashStream();
  try {
    await pipeline(createReadStream(src), hash, createWriteStream(tmp, { mode: 0o644 }));
    if (`sha256:${hash.hex()}` !== d.digest || hash.bytes !== d.size) throw corrupt(dir, d.digest, `content has digest sha256:${hash.hex()} and ${hash.bytes} bytes`);
    return tmp;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Gzips an uncompressed layer (checking its digest, which is its diff_id) into the store. */
async function gzipLayer(store: ImageStore, src: string, d: Descriptor, dir: string): Promise<Descriptor> {
  const tmp = store.tempPath();
  const tarHash = new HashStream();
  const gzHash = new HashStream();
  try {
    await pipeline(createReadStream(src), tarHash, createGzip({ level: 1 }), gzHash, createWriteStream(tmp, { mode: 0o644 }));
    if (`sha256:${tarHash.hex()}` !== d.digest || tarHash.bytes !== d.size) throw corrupt(dir, d.digest, `content has digest sha256:${tarHash.hex()}`);
    const digest = `sha256:${gzHash.hex()}`;
    await store.commitBlob(tmp, digest);
    return { mediaType: LAYER_MEDIA_TYPE, digest, size: (await stat(store.blobPath(digest))).size };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function corrupt(dir: string, digest: string, why: string): ImageError {
  return new ImageError("FNRUN_IMAGE_CORRUPT", `import blob \`${digest}\` from \`${dir}\`: ${why}; refused`);
}
