/**
 * @module builder/build
 * `fnrun build` of one function: bundle the folder, write the build context (Dockerfile +
 * index.mjs) under `<state>/build/<name>`, and apply that Dockerfile with the embedded engine.
 * The image is made from the Dockerfile, never beside it, so the two cannot disagree.
 */
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { bundleFunction } from "./bundle.ts";
import { CONTEXT_ENTRY_NAME, generateDockerfile } from "./dockerfile.ts";
import { applyDockerfile } from "./engine.ts";
import { buildWithTool, type EngineName } from "./engine-tool.ts";
import { tempName } from "./fs-util.ts";
import type { ImageInfo, ImageStore } from "./oci-layout.ts";

export interface BuildFunctionOptions {
  /** The function's name from config.toml; the image is tagged `fn/<name>:<revision>`. */
  name: string;
  /** The function folder. */
  dir: string;
  /** fnrun's state directory; the context goes to `<stateDir>/build/<name>`. */
  stateDir: string;
  /** The image to build FROM (normally ensureBaseImage's result). */
  base: ImageInfo;
  /** Told when each step is done and how long it took (`fnrun deploy` shows them). */
  onStep?: (step: "bundle" | "image", ms: number) => void;
  /** Who applies the Dockerfile: the embedded engine (default), buildah or docker (engine-tool.ts). */
  engine?: EngineName;
  /**
   * The bootstrap's source, when `base` is not a fnrun base image (`base = "REF"`): it goes
   * into the image with the /run/fnrun mount point (generateDockerfile's foreignBase).
   */
  bootstrap?: string;
}

export interface BuildResult {
  image: ImageInfo;
  /** The Dockerfile the image was built from. */
  dockerfile: string;
  /** The build context directory: `docker build <contextDir>` builds an equivalent image. */
  contextDir: string;
  /** `sha256:` of the bundle. */
  bundleDigest: string;
}

/** The revision of a function: the first 12 hex digits of its bundle's digest. */
export function functionImageTag(name: string, bundleDigest: string): string {
  return `fn/${name}:${bundleDigest.replace(/^sha256:/, "").slice(0, 12)}`;
}

/** Builds a function image. A bundle error throws before anything is written. */
export async function buildFunction(store: ImageStore, options: BuildFunctionOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const bundle = await bundleFunction(options.dir);
  const t1 = performance.now();
  options.onStep?.("bundle", t1 - t0);
  const contextDir = path.join(path.resolve(options.stateDir), "build", options.name);
  // FROM names the base by its tag, which docker understands once the base is loaded under it;
  // a base known only by digest is named by digest.
  const baseRef = options.base.ref.startsWith("sha256:") ? options.base.digest : options.base.ref;
  const foreignBase = options.bootstrap !== undefined;
  const dockerfile = generateDockerfile({ base: baseRef, foreignBase });
  await mkdir(contextDir, { recursive: true });
  if (foreignBase) {
    await mkdir(path.join(contextDir, "fnrun"), { recursive: true });
    await mkdir(path.join(contextDir, "run", "fnrun"), { recursive: true });
    await chmod(path.join(contextDir, "run"), 0o755);
    await chmod(path.join(contextDir, "run", "fnrun"), 0o755);
    await writeAtomic(path.join(contextDir, "fnrun", "bootstrap.mjs"), options.bootstrap!, 0o644);
  }
  await writeAtomic(path.join(contextDir, CONTEXT_ENTRY_NAME), bundle.code, 0o644);
  await writeAtomic(path.join(contextDir, "Dockerfile"), dockerfile, 0o644);
  const engine = options.engine ?? "embedded";
  // A tool's image of the same bundle on the same base is found in the store by its tag, which
  // names the bundle, the engine and the base (the embedded engine is fast enough to just apply).
  const tag = functionImageTag(options.name, bundle.digest) + (engine === "embedded" ? "" : `-${engine}-${options.base.digest.slice(7, 15)}`);
  const image = engine === "embedded"
    ? await applyDockerfile(store, { dockerfile, contextDir, tag })
    : await store.resolve(tag).catch(() => buildWithTool(store, { engine, contextDir, tag, base: options.base }));
  options.onStep?.("image", performance.now() - t1);
  return { image, dockerfile, contextDir, bundleDigest: bundle.digest };
}

async function writeAtomic(dest: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = path.join(path.dirname(dest), `.${tempName()}`);
  await writeFile(tmp, data);
  // Explicit, not via writeFile's mode, which the umask narrows: COPY keeps the file's mode, and
  // the function runs as uid 1000, so the bundle must be world-readable whatever the umask.
  await chmod(tmp, mode);
  await rename(tmp, dest);
}
