/**
 * @module builder/errors
 * Errors of the builder. Each has a stable `code` and a `kind`: "user" errors come from a bad
 * function or Dockerfile and are printed without a stack, with the fix; "system" errors mean the
 * machine or the image store is in trouble.
 */

export type ErrorKind = "user" | "system";

export type BuildErrorCode =
  | "FNRUN_BUILD_NO_ENTRY"
  | "FNRUN_BUILD_SYNTAX"
  | "FNRUN_BUILD_UNRESOLVED"
  | "FNRUN_BUILD_FAILED"
  | "FNRUN_BUILD_NATIVE_MISMATCH"
  | "FNRUN_BUILD_EXTERNAL_CONFLICT"
  | "FNRUN_UNSUPPORTED_INSTRUCTION"
  | "FNRUN_DOCKERFILE_INVALID";

export interface BuildErrorOptions {
  /** Path of the offending file, relative to the working directory when inside it. */
  file?: string;
  /** 1-based line. */
  line?: number;
  /** 1-based column (editors count from 1; esbuild's 0-based column is converted). */
  column?: number;
  /** What the user should do about it. */
  fix?: string;
  cause?: unknown;
}

/** A function (or its Dockerfile) cannot be built: always the user's to fix. */
export class BuildError extends Error {
  override name = "BuildError";
  readonly kind: ErrorKind = "user";
  readonly code: BuildErrorCode;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly fix?: string;

  constructor(code: BuildErrorCode, message: string, options: BuildErrorOptions = {}) {
    super(options.fix ? `${message}\n  fix: ${options.fix}` : message, { cause: options.cause });
    this.code = code;
    this.file = options.file;
    this.line = options.line;
    this.column = options.column;
    this.fix = options.fix;
  }
}

export type ImageErrorCode =
  | "FNRUN_IMAGE_NOT_FOUND"
  | "FNRUN_IMAGE_REF_INVALID"
  | "FNRUN_IMAGE_CORRUPT"
  | "FNRUN_IMAGE_UNSAFE"
  | "FNRUN_IMAGE_STORE_FAILED"
  | "FNRUN_ROOTFS_FAILED";

const IMAGE_USER_CODES = new Set<ImageErrorCode>(["FNRUN_IMAGE_NOT_FOUND", "FNRUN_IMAGE_REF_INVALID", "FNRUN_IMAGE_UNSAFE"]);

/**
 * The image store could not find, read, write or unpack an image. A missing image or a layer
 * that tries to escape its rootfs is the user's doing; a corrupt blob or an I/O failure is not.
 */
export class ImageError extends Error {
  override name = "ImageError";
  readonly kind: ErrorKind;
  readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.kind = IMAGE_USER_CODES.has(code) ? "user" : "system";
  }
}

export type RegistryErrorCode =
  | "FNRUN_REGISTRY_REF_INVALID"
  | "FNRUN_REGISTRY_INSECURE"
  | "FNRUN_REGISTRY_AUTH"
  | "FNRUN_REGISTRY_NOT_FOUND"
  | "FNRUN_REGISTRY_UNSUPPORTED"
  | "FNRUN_REGISTRY_DIGEST_MISMATCH"
  | "FNRUN_REGISTRY_FAILED";

const REGISTRY_USER_CODES = new Set<RegistryErrorCode>(["FNRUN_REGISTRY_REF_INVALID", "FNRUN_REGISTRY_INSECURE", "FNRUN_REGISTRY_AUTH", "FNRUN_REGISTRY_NOT_FOUND", "FNRUN_REGISTRY_UNSUPPORTED"]);

/**
 * Talking to a registry failed. A bad reference, a missing login or a missing image is the
 * user's to fix; content that does not match its digest, or a registry that misbehaves, is not.
 */
export class RegistryError extends Error {
  override name = "RegistryError";
  readonly kind: ErrorKind;
  readonly code: RegistryErrorCode;
  /** The HTTP status the registry answered, when it did. */
  readonly status?: number;

  constructor(code: RegistryErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.kind = REGISTRY_USER_CODES.has(code) ? "user" : "system";
  }
}
