/**
 * @module builder/oci-image
 * The JSON documents of an OCI image (image-spec v1.0: manifest.md, config.md) and the
 * digests derived from them. Pure functions: no file system here.
 */
import { createHash } from "node:crypto";
import { LAYER_MEDIA_TYPE } from "./layer.ts";

export const MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
export const INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
export { LAYER_MEDIA_TYPE };

/**
 * `created` is fixed (the epoch, as SOURCE_DATE_EPOCH=0 would give) so building the same
 * inputs twice yields the same config blob and manifest digest.
 */
export const FIXED_CREATED = "1970-01-01T00:00:00Z";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** How containers of the image start (the `config` object of config.md, the fields fnrun uses). */
export interface RuntimeConfig {
  User?: string;
  /** `"8080/tcp": {}` per port (config.md: the values are empty objects). */
  ExposedPorts?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config: RuntimeConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: typeof MANIFEST_MEDIA_TYPE;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** GOARCH names, which the image-spec uses for `architecture`. */
export function hostArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return map[arch] ?? arch;
}

export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The hex part of `sha256:<hex>`, checked, so a digest can safely become a file name. */
export function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: \`${digest}\``);
  return m[1];
}

/**
 * The chain id of a stack of layers (image-spec config.md "Layer ChainID"): identifies the
 * file system the layers produce, whatever the compression, so it keys the unpacked rootfs.
 */
export function chainId(diffIds: readonly string[]): string {
  let chain = diffIds[0];
  for (const diffId of diffIds.slice(1)) chain = sha256(`${chain} ${diffId}`);
  return chain;
}

/** The config's runtime fields with defaults filled in, as the runtime wants them. */
export function runtimeConfigOf(config: ImageConfig): { User: string; WorkingDir: string; Env: string[]; Cmd: string[]; Entrypoint?: string[] } {
  const c = config.config ?? {};
  return {
    User: c.User || "0:0",
    WorkingDir: c.WorkingDir || "/",
    Env: [...(c.Env ?? [])],
    Cmd: [...(c.Cmd ?? [])],
    ...(c.Entrypoint && c.Entrypoint.length ? { Entrypoint: [...c.Entrypoint] } : {}),
  };
}

/** Sets `KEY=value` in an Env list, replacing an earlier value of KEY (docker's ENV semantics). */
export function setEnv(env: readonly string[], key: string, value: string): string[] {
  return [...env.filter((e) => e.split("=", 1)[0] !== key), `${key}=${value}`];
}
