/**
 * @module builder/oci-layout
 * The image store: an OCI image layout directory (image-spec image-layout.md) under
 * `<state>/images`, plus the unpacked rootfs of each image under `<state>/rootfs`.
 * Blobs are content-addressed and written temp-then-rename, so a crash never leaves a blob
 * whose name lies about its content, and writing the same content twice adds nothing.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ImageError } from "./errors.ts";
import { exists, removeOrphans, tempName } from "./fs-util.ts";
import { LAYER_MEDIA_TYPE, writeLayer, type LayerEntry } from "./layer.ts";
import {
  CONFIG_MEDIA_TYPE,
  FIXED_CREATED,
  MANIFEST_MEDIA_TYPE,
  REF_NAME_ANNOTATION,
  chainId,
  digestHex,
  hostArchitecture,
  runtimeConfigOf,
  sha256,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type Manifest,
  type RuntimeConfig,
} from "./oci-image.ts";
import { RootfsCache } from "./rootfs.ts";
import { RwLock } from "./rw-lock.ts";

/** A layer of a stored image: its descriptor plus the digest of its uncompressed tar. */
export interface LayerInfo extends Descriptor {
  diffId: string;
}

/** A new layer made from entries, or a layer already in the store (a parent image's). */
export type LayerInput =
  | { entries: LayerEntry[]; createdBy?: string; /** gzip level, 1 (fast) to 9 */ level?: number }
  | { existing: LayerInfo; createdBy?: string };

export interface ImageInfo {
  /** The tag it was resolved by, or its manifest digest when resolved by digest. */
  ref: string;
  /** `sha256:` of the manifest. */
  digest: string;
  layers: LayerInfo[];
  config: ImageConfig;
}

export interface PutImageOptions {
  /** The whole history; by default one entry per layer from each input's `createdBy`. */
  history?: HistoryEntry[];
}

interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export class ImageStore {
  readonly stateDir: string;
  /** The OCI image layout directory, usable as `oci:<layoutDir>:<tag>` by skopeo and umoci. */
  readonly layoutDir: string;
  readonly #tmpDir: string;
  readonly #rootfs: RootfsCache;
  /** Writers of images hold it shared; garbage collection holds it exclusive (rw-lock.ts). */
  readonly lock = new RwLock();
  #indexLock: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    this.stateDir = path.resolve(stateDir);
    this.layoutDir = path.join(this.stateDir, "images");
    // Temp files live outside the layout (tools must not mistake them for blobs) but on the
    // same file system, so rename(2) is atomic.
    this.#tmpDir = path.join(this.stateDir, "tmp");
    this.#rootfs = new RootfsCache(path.join(this.stateDir, "rootfs"), (digest) => this.blobPath(digest));
  }

  /** Creates the layout if missing and removes temp files a crash left behind. */
  async init(): Promise<void> {
    await mkdir(path.join(this.layoutDir, "blobs", "sha256"), { recursive: true });
    await mkdir(this.#tmpDir, { recursive: true });
    await removeOrphans(this.#tmpDir);
    if (!(await exists(path.join(this.layoutDir, "oci-layout")))) {
      await this.#writeAtomic(path.join(this.layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    }
    if (!(await exists(path.join(this.layoutDir, "index.json")))) {
      await this.#writeAtomic(path.join(this.layoutDir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    }
    await this.#rootfs.init();
  }

  blobPath(digest: string): string {
    return path.join(this.layoutDir, "blobs", "sha256", digestHex(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /** Stores bytes as a blob; a blob with that digest already there is left alone. */
  async putBlob(data: string | Uint8Array): Promise<{ digest: string; size: number }> {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const digest = sha256(bytes);
    if (!(await this.hasBlob(digest))) await this.#writeAtomic(this.blobPath(digest), bytes);
    return { digest, size: bytes.length };
  }

  /**
   * A fresh temp path on the store's file system, for a writer that renames it in with
   * commitBlob(); the writer's pid is in the name, so init() removes it if the writer dies.
   */
  tempPath(): string {
    return this.#tmpPath();
  }

  /** Moves a verified temp file in as the blob `digest` (kept if the blob is already there). */
  async commitBlob(tmp: string, digest: string): Promise<void> {
    const dest = this.blobPath(digest);
    try {
      if (await exists(dest)) await rm(tmp, { force: true });
      else await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new ImageError("FNRUN_IMAGE_STORE_FAILED", `store blob \`${digest}\`: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Reads a blob and checks it against its digest. */
  async readBlob(digest: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (err) {
      throw new ImageError("FNRUN_IMAGE_CORRUPT", `read blob \`${digest}\`: ${(err as Error).message}`, { cause: err });
    }
    if (sha256(bytes) !== digest) throw new ImageError("FNRUN_IMAGE_CORRUPT", `read blob \`${digest}\`: content does not match its digest`);
    return bytes;
  }

  /** Writes a layer from entries through a temp file; returns its descriptor. */
  async putLayer(entries: LayerEntry[], options: { level?: number } = {}): Promise<LayerInfo> {
    const tmp = this.#tmpPath();
    try {
      const written = await writeLayer(entries, createWriteStream(tmp), options);
      const dest = this.blobPath(written.digest);
      if (await exists(dest)) await rm(tmp, { force: true });
      else await rename(tmp, dest);
      return { mediaType: LAYER_MEDIA_TYPE, digest: written.digest, size: written.size, diffId: written.diffId };
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof ImageError) throw err;
      throw new ImageError("FNRUN_IMAGE_STORE_FAILED", `write layer into \`${this.layoutDir}\`: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stores an image (layers, config, manifest) and points the tag `ref` at it. */
  async putImage(ref: string, layers: LayerInput[], config: RuntimeConfig, options: PutImageOptions = {}): Promise<ImageInfo> {
    validateRef(ref);
    return this.lock.shared(() => this.#putImage(ref, layers, config, options));
  }

  async #putImage(ref: string, layers: LayerInput[], config: RuntimeConfig, options: PutImageOptions): Promise<ImageInfo> {
    const infos: LayerInfo[] = [];
    for (const input of layers) {
      if ("existing" in input) {
        if (!(await this.hasBlob(input.existing.digest))) throw new ImageError("FNRUN_IMAGE_CORRUPT", `put image \`${ref}\`: layer \`${input.existing.digest}\` is not in the store`);
        infos.push(input.existing);
      } else {
        infos.push(await this.putLayer(input.entries, { level: input.level }));
      }
    }
    const imageConfig: ImageConfig = {
      created: FIXED_CREATED,
      architecture: hostArchitecture(),
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: infos.map((l) => l.diffId) },
      history: options.history ?? layers.map((l) => ({ created: FIXED_CREATED, created_by: l.createdBy ?? "fnrun" })),
    };
    const configBlob = await this.putBlob(JSON.stringify(imageConfig));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: CONFIG_MEDIA_TYPE, ...configBlob },
      layers: infos.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    };
    const manifestBlob = await this.putBlob(JSON.stringify(manifest));
    await this.tag(ref, { mediaType: MANIFEST_MEDIA_TYPE, ...manifestBlob });
    return { ref, digest: manifestBlob.digest, layers: infos, config: imageConfig };
  }

  /** Points `ref` at a manifest, replacing what it pointed at; index.json is replaced atomically. */
  async tag(ref: string, manifest: Descriptor): Promise<void> {
    validateRef(ref);
    await this.#updateIndex((index) => {
      index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== ref);
      index.manifests.push({ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, annotations: { [REF_NAME_ANNOTATION]: ref } });
    });
  }

  /** Removes a tag (blobs stay until a garbage collection). */
  async untag(ref: string): Promise<void> {
    await this.#updateIndex((index) => {
      index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== ref);
    });
  }

  /** A tag or a `sha256:` manifest digest → the image, or FNRUN_IMAGE_NOT_FOUND. */
  async resolve(ref: string): Promise<ImageInfo> {
    let digest: string;
    if (/^sha256:[0-9a-f]{64}$/.test(ref)) {
      if (!(await this.hasBlob(ref))) throw notFound(ref, this.layoutDir);
      digest = ref;
    } else {
      const index = await this.#readIndex();
      const found = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === ref);
      if (!found) throw notFound(ref, this.layoutDir);
      digest = found.digest;
    }
    const manifest = JSON.parse((await this.readBlob(digest)).toString("utf8")) as Manifest;
    const config = JSON.parse((await this.readBlob(manifest.config.digest)).toString("utf8")) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new ImageError("FNRUN_IMAGE_CORRUPT", `resolve \`${ref}\`: ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
    }
    return { ref, digest, layers: manifest.layers.map((l, i) => ({ ...l, diffId: diffIds[i] })), config };
  }

  /** How containers of the image start: User, WorkingDir, Env, Cmd (and Entrypoint if set). */
  async imageConfig(ref: string): Promise<ReturnType<typeof runtimeConfigOf>> {
    return runtimeConfigOf((await this.resolve(ref)).config);
  }

  /**
   * The absolute path of the image's unpacked rootfs, unpacked on first use and shared by every
   * container of the image; treat it as read-only (containers mount it read-only).
   */
  rootfs(ref: string): Promise<string> {
    return this.lock.shared(async () => this.#rootfs.rootfsOf((await this.resolve(ref)).layers));
  }

  /** The rootfs directory of a chain of layers, whether unpacked or not (for garbage collection). */
  rootfsKeys(layers: readonly { diffId: string }[]): string[] {
    return layers.map((_, i) => digestHex(chainId(layers.slice(0, i + 1).map((l) => l.diffId))));
  }

  /** Every tag and the manifest it points at, as index.json holds them. */
  async tags(): Promise<{ ref: string; digest: string }[]> {
    const index = await this.#readIndex();
    return index.manifests.flatMap((m) => (m.annotations?.[REF_NAME_ANNOTATION] ? [{ ref: m.annotations[REF_NAME_ANNOTATION], digest: m.digest }] : []));
  }

  /** Every tagged image with its size (manifest + config + layers, compressed). */
  async list(): Promise<{ ref: string; digest: string; size: number }[]> {
    const index = await this.#readIndex();
    const out: { ref: string; digest: string; size: number }[] = [];
    for (const m of index.manifests) {
      const ref = m.annotations?.[REF_NAME_ANNOTATION];
      if (!ref) continue;
      const manifest = JSON.parse((await this.readBlob(m.digest)).toString("utf8")) as Manifest;
      const size = m.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
      out.push({ ref, digest: m.digest, size });
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  async #readIndex(): Promise<OciIndex> {
    try {
      return JSON.parse(await readFile(path.join(this.layoutDir, "index.json"), "utf8")) as OciIndex;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new ImageError("FNRUN_IMAGE_STORE_FAILED", `read \`${path.join(this.layoutDir, "index.json")}\`: missing; call init() first`, { cause: err });
      }
      throw new ImageError("FNRUN_IMAGE_CORRUPT", `read \`${path.join(this.layoutDir, "index.json")}\`: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Read-modify-write of index.json, serialized within this process. */
  #updateIndex(change: (index: OciIndex) => void): Promise<void> {
    const run = this.#indexLock.then(async () => {
      const index = await this.#readIndex();
      change(index);
      await this.#writeAtomic(path.join(this.layoutDir, "index.json"), JSON.stringify(index));
    });
    this.#indexLock = run.catch(() => {});
    return run;
  }

  async #writeAtomic(dest: string, data: string | Uint8Array): Promise<void> {
    const tmp = this.#tmpPath();
    try {
      await mkdir(this.#tmpDir, { recursive: true });
      await writeFile(tmp, data, { mode: 0o644 });
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new ImageError("FNRUN_IMAGE_STORE_FAILED", `write \`${dest}\`: ${(err as Error).message}`, { cause: err });
    }
  }

  #tmpPath(): string {
    return path.join(this.#tmpDir, tempName());
  }
}

/**
 * Refs are `org.opencontainers.image.ref.name` values (image-layout.md grammar: components of
 * alphanumerics joined by `-._:@+` or `--`, separated by `/`). `fn/hello:abc` is fine; skopeo
 * and umoci split `oci:<dir>:<ref>` at the first colon after the directory.
 */
export function validateRef(ref: string): void {
  const component = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
  if (!new RegExp(`^${component}(?:/${component})*$`).test(ref)) {
    throw new ImageError("FNRUN_IMAGE_REF_INVALID", `image ref \`${ref}\` is not a valid OCI ref name (letters, digits, separators -._:@+ and /)`);
  }
}

function notFound(ref: string, layoutDir: string): ImageError {
  return new ImageError("FNRUN_IMAGE_NOT_FOUND", `resolve image \`${ref}\`: not in \`${layoutDir}\``);
}
