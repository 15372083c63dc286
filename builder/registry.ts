/**
 * @module builder/registry
 * `fnrun push` and `fnrun pull`: images of the store to and from any OCI distribution
 * registry. A push sends only the blobs the registry lacks (HEAD first), then the manifest,
 * byte for byte, so the image keeps its digest. A pull verifies every manifest and blob
 * against its digest and size before it enters the store, and tags the image by its full
 * reference (`127.0.0.1:5000/team/hello:v1`).
 */
import { createReadStream } from "node:fs";
import { ImageError, RegistryError } from "./errors.ts";
import { hostArchitecture, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, type Descriptor, type Manifest } from "./oci-image.ts";
import type { ImageInfo, ImageStore } from "./oci-layout.ts";
import type { RegistryCredentials } from "./registry-auth.ts";
import { RegistryClient } from "./registry-client.ts";
import { formatRegistryRef, manifestReference, parseRegistryRef } from "./registry-ref.ts";

export interface RegistryOptions {
  insecure?: boolean;
  credentials?: RegistryCredentials;
  /** Blobs above this are uploaded in chunks (PATCH); default 16 MiB. */
  chunkBytes?: number;
}

export interface PushResult {
  ref: string;
  digest: string;
  /** Blobs sent, and blobs the registry already had (skipped after HEAD). */
  uploaded: number;
  skipped: number;
  bytes: number;
}

export interface PullResult {
  image: ImageInfo;
  /** Blobs fetched, and blobs the store already had. */
  downloaded: number;
  cached: number;
  bytes: number;
}

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Layer types applyLayer can read: gzipped tars, OCI's and Docker's names for them. */
const GZIP_LAYERS = new Set(["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"]);

/** Pushes the stored image `source` (tag or digest) to `target` (a registry reference). */
export async function pushImage(store: ImageStore, source: string, target: string, options: RegistryOptions = {}): Promise<PushResult> {
  const ref = parseRegistryRef(target);
  const image = await store.resolve(source);
  const manifestBytes = await store.readBlob(image.digest);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as Manifest;
  const client = new RegistryClient({ registry: ref.registry, repository: ref.repository, insecure: options.insecure, credentials: options.credentials, actions: "pull,push" });
  let uploaded = 0;
  let skipped = 0;
  let bytes = 0;
  try {
    for (const blob of [...manifest.layers, manifest.config]) {
      if (await client.hasBlob(blob.digest)) {
        skipped++;
        continue;
      }
      const file = store.blobPath(blob.digest);
      await client.uploadBlob(blob.digest, blob.size, (start, end) => createReadStream(file, { start, end }), options.chunkBytes);
      uploaded++;
      bytes += blob.size;
    }
    if (ref.digest && ref.digest !== image.digest) {
      throw new RegistryError("FNRUN_REGISTRY_REF_INVALID", `push \`${source}\` to \`${target}\`: the image's digest is ${image.digest}`);
    }
    await client.putManifest(ref.tag ?? image.digest, manifestBytes, manifest.mediaType ?? MANIFEST_MEDIA_TYPE);
    return { ref: formatRegistryRef({ ...ref, digest: undefined }), digest: image.digest, uploaded, skipped, bytes };
  } finally {
    await client.close();
  }
}

/** Pulls `source` (a registry reference) into the store, tagged by that reference. */
export function pullImage(store: ImageStore, source: string, options: RegistryOptions = {}): Promise<PullResult> {
  // Blobs land before the tag: held shared, so a garbage collection never takes them for garbage.
  return store.lock.shared(() => pull(store, source, options));
}

async function pull(store: ImageStore, source: string, options: RegistryOptions): Promise<PullResult> {
  const ref = parseRegistryRef(source);
  const client = new RegistryClient({ registry: ref.registry, repository: ref.repository, insecure: options.insecure, credentials: options.credentials, actions: "pull" });
  let downloaded = 0;
  let cached = 0;
  let bytes = 0;
  try {
    let got = await client.getManifest(manifestReference(ref));
    if (got.mediaType === INDEX_MEDIA_TYPE || got.mediaType === DOCKER_LIST) {
      const chosen = choosePlatform(JSON.parse(got.bytes.toString("utf8")) as { manifests?: PlatformDescriptor[] }, source);
      got = await client.getManifest(chosen.digest, { digest: chosen.digest, size: chosen.size });
    }
    if (got.mediaType !== MANIFEST_MEDIA_TYPE && got.mediaType !== DOCKER_MANIFEST) {
      throw new RegistryError("FNRUN_REGISTRY_UNSUPPORTED", `pull \`${source}\`: manifest type \`${got.mediaType}\` is not an image manifest fnrun reads (OCI or Docker v2 schema 2)`);
    }
    const manifest = JSON.parse(got.bytes.toString("utf8")) as Manifest;
    if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new RegistryError("FNRUN_REGISTRY_FAILED", `pull \`${source}\`: manifest \`${got.digest}\` has no config or layers`);
    for (const l of manifest.layers) {
      if (!GZIP_LAYERS.has(l.mediaType)) throw new RegistryError("FNRUN_REGISTRY_UNSUPPORTED", `pull \`${source}\`: layer \`${l.digest}\` is \`${l.mediaType}\`; fnrun unpacks gzipped tar layers only`);
    }
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (!/^sha256:[0-9a-f]{64}$/.test(blob.digest) || !Number.isSafeInteger(blob.size) || blob.size < 0) {
        throw new RegistryError("FNRUN_REGISTRY_FAILED", `pull \`${source}\`: bad descriptor ${JSON.stringify(blob)}`);
      }
      if (await store.hasBlob(blob.digest)) {
        cached++;
        continue;
      }
      const tmp = store.tempPath();
      await client.downloadBlob(blob.digest, blob.size, tmp);
      await store.commitBlob(tmp, blob.digest);
      downloaded++;
      bytes += blob.size;
    }
    // The manifest goes in last: a store tag never points at an image with missing blobs.
    const stored = await store.putBlob(got.bytes);
    const tag = formatRegistryRef({ ...ref, digest: ref.tag ? undefined : ref.digest });
    await store.tag(tag, { mediaType: got.mediaType, digest: stored.digest, size: stored.size });
    const image = await store.resolve(tag);
    return { image, downloaded, cached, bytes };
  } catch (err) {
    if (err instanceof ImageError || err instanceof RegistryError) throw err;
    throw new RegistryError("FNRUN_REGISTRY_FAILED", `pull \`${source}\`: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.close();
  }
}

interface PlatformDescriptor extends Descriptor {
  platform?: { os?: string; architecture?: string };
}

/** The index entry for linux on this machine's architecture. */
function choosePlatform(index: { manifests?: PlatformDescriptor[] }, source: string): PlatformDescriptor {
  const arch = hostArchitecture();
  const found = (index.manifests ?? []).find((m) => m.platform?.os === "linux" && m.platform?.architecture === arch);
  if (!found) {
    const have = (index.manifests ?? []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(", ");
    throw new RegistryError("FNRUN_REGISTRY_NOT_FOUND", `pull \`${source}\`: no image for linux/${arch} in the index (has ${have || "nothing"})`);
  }
  return found;
}
