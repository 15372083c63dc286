/**
 * @module builder
 * The builder's public surface: bundling, Dockerfiles, the image store and the base image.
 */
export { BuildError, ImageError, RegistryError, type BuildErrorCode, type ImageErrorCode, type RegistryErrorCode, type ErrorKind } from "./errors.ts";
export { bundleFunction, findEntry, ENTRY_NAMES, type Bundle, type BundleOptions } from "./bundle.ts";
export type { ExternalPackage } from "./externals.ts";
export { findMachineCode } from "./native-deps.ts";
export { generateDockerfile, parseDockerfile, CONTEXT_ENTRY_NAME, CONTEXT_NODE_MODULES, type DockerfileOptions, type Instruction } from "./dockerfile.ts";
export { applyDockerfile, type ApplyDockerfileOptions } from "./engine.ts";
export { writeLayer, LAYER_MEDIA_TYPE, type LayerEntry, type WrittenLayer } from "./layer.ts";
export {
  MANIFEST_MEDIA_TYPE,
  CONFIG_MEDIA_TYPE,
  REF_NAME_ANNOTATION,
  chainId,
  type Descriptor,
  type ImageConfig,
  type Manifest,
  type RuntimeConfig,
  type HistoryEntry,
} from "./oci-image.ts";
export { ImageStore, validateRef, type ImageInfo, type LayerInfo, type LayerInput, type PutImageOptions } from "./oci-layout.ts";
export { ensureBaseImage, baseImageTag, type EnsureBaseImageOptions } from "./base-image.ts";
export { buildFunction, functionImageTag, type BuildFunctionOptions, type BuildResult } from "./build.ts";
export { baseLayout, baseImageConfig, FUNCTION_UID, FUNCTION_GID, BOOTSTRAP_PATH_IN_IMAGE, SOCKET_DIR_IN_IMAGE, APP_DIR_IN_IMAGE, ENTRY_IN_IMAGE } from "./base-layout.ts";
export { NODE_PATH_IN_IMAGE } from "./base-files.ts";
export { pushImage, pullImage, type RegistryOptions, type PushResult, type PullResult } from "./registry.ts";
export { parseRegistryRef, isRegistryRef, formatRegistryRef, type RegistryRef } from "./registry-ref.ts";
export type { RegistryCredentials } from "./registry-auth.ts";
export { collectGarbage, type GcOptions, type GcResult } from "./store-gc.ts";
export { writeImageArchive, type ArchiveFormat } from "./image-archive.ts";
export { buildWithTool, ENGINES, type EngineName, type ToolBuildOptions } from "./engine-tool.ts";
export { importLayout } from "./oci-import.ts";
