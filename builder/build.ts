/**
 * @module builder/build
 * `fnrun build` of one function: bundle the folder, write the build context (Dockerfile +
 * index.mjs) under `<state>/build/<name>`, and apply that Dockerfile with the embedded engine.
 * The image is made from the Dockerfile, never beside it, so the two cannot disagree.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { bundleFunction, displayPath } from "./bundle.ts";
import { BuildError } from "./errors.ts";
import { ExternalConflictError, PackageCache, planNodeModules } from "./native-deps.ts";
import { checkNativeFile, fixFor, hostTarget, rootfsTarget, type AddedLibrary, type NativeProblem, type NativeTarget } from "./native-check.ts";
import { digestOf, filesOf, writeNodeModules, type CopiedFile } from "./node-modules-copy.ts";
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
  /**
   * `sha256:` of the files copied besides the bundle: /app/node_modules (node-modules-copy.ts)
   * and glibc libraries an addon needs that the base lacks; null when none are.
   */
  nodeModulesDigest: string | null;
  /** The packages kept out of the bundle, by name, with why (`native` or `own-files`). */
  externals: { name: string; reason: string }[];
}

/**
 * The revision of a function: the first 12 hex digits of its bundle's digest, or, when it has
 * external packages, of the digest of both, so that `npm rebuild` of a native package (new
 * `.node` bytes, same bundle) makes a new revision.
 */
export function functionImageTag(name: string, bundleDigest: string, nodeModulesDigest: string | null = null): string {
  const digest = nodeModulesDigest ? createHash("sha256").update(`${bundleDigest}\n${nodeModulesDigest}`).digest("hex") : bundleDigest.replace(/^sha256:/, "");
  return `fn/${name}:${digest.slice(0, 12)}`;
}

/** Builds a function image. A bundle error throws before anything is written. */
export async function buildFunction(store: ImageStore, options: BuildFunctionOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const cache = new PackageCache();
  const bundle = await bundleFunction(options.dir, { cache });
  // Everything that can fail on the function's packages fails here, before anything is written.
  const modules = bundle.externals.length > 0 ? await externalFiles(store, options, bundle.externals, cache) : null;
  const t1 = performance.now();
  options.onStep?.("bundle", t1 - t0);
  const contextDir = path.join(path.resolve(options.stateDir), "build", options.name);
  // FROM names the base by its tag, which docker understands once the base is loaded under it;
  // a base known only by digest is named by digest.
  const baseRef = options.base.ref.startsWith("sha256:") ? options.base.digest : options.base.ref;
  const foreignBase = options.bootstrap !== undefined;
  const libDir = modules?.libs[0] ? path.posix.dirname(modules.libs[0].target) : undefined;
  const dockerfile = generateDockerfile({ base: baseRef, foreignBase, nodeModules: modules !== null, libDir });
  await mkdir(contextDir, { recursive: true });
  if (foreignBase) {
    await mkdir(path.join(contextDir, "fnrun"), { recursive: true });
    await mkdir(path.join(contextDir, "run", "fnrun"), { recursive: true });
    await chmod(path.join(contextDir, "run"), 0o755);
    await chmod(path.join(contextDir, "run", "fnrun"), 0o755);
    await writeAtomic(path.join(contextDir, "fnrun", "bootstrap.mjs"), options.bootstrap!, 0o644);
  }
  await writeNodeModules(contextDir, modules?.files ?? [], modules?.filesDigest ?? null);
  await writeLibs(path.join(contextDir, CONTEXT_LIBS), modules?.libs ?? []);
  await writeAtomic(path.join(contextDir, CONTEXT_ENTRY_NAME), bundle.code, 0o644);
  await writeAtomic(path.join(contextDir, "Dockerfile"), dockerfile, 0o644);
  const engine = options.engine ?? "embedded";
  // A tool's image of the same bundle on the same base is found in the store by its tag, which
  // names the bundle, the engine and the base (the embedded engine is fast enough to just apply).
  const tag = functionImageTag(options.name, bundle.digest, modules?.digest ?? null) + (engine === "embedded" ? "" : `-${engine}-${options.base.digest.slice(7, 15)}`);
  const image = engine === "embedded"
    ? await applyDockerfile(store, { dockerfile, contextDir, tag })
    : await store.resolve(tag).catch(() => buildWithTool(store, { engine, contextDir, tag, base: options.base }));
  options.onStep?.("image", performance.now() - t1);
  return {
    image,
    dockerfile,
    contextDir,
    bundleDigest: bundle.digest,
    nodeModulesDigest: modules?.digest ?? null,
    externals: bundle.externals.map((e) => ({ name: e.name, reason: e.reason })),
  };
}

/**
 * The files of the external packages and their closure, after checking every `.node` file
 * among them against what the image runs (FNRUN_BUILD_NATIVE_MISMATCH lists every problem).
 */
async function externalFiles(
  store: ImageStore,
  options: BuildFunctionOptions,
  externals: { name: string; dir: string }[],
  cache: PackageCache,
): Promise<{ files: CopiedFile[]; filesDigest: string; libs: AddedLibrary[]; digest: string }> {
  const dir = displayPath(path.resolve(options.dir));
  let placements;
  try {
    placements = await planNodeModules(externals, cache);
  } catch (err) {
    if (!(err instanceof ExternalConflictError)) throw err;
    throw new BuildError("FNRUN_BUILD_EXTERNAL_CONFLICT", `bundle \`${dir}\`: ${err.message}`, { fix: `install one version of \`${err.name}\` (\`npm dedupe\` in ${dir})` });
  }
  const files = await filesOf(placements);
  const natives = files.filter((f) => f.rel.endsWith(".node"));
  const added = new Map<string, AddedLibrary>();
  if (natives.length > 0) {
    const target = await targetOf(store, options);
    const copied = new Map(files.map((f) => [f.rel, f.src]));
    const problems: NativeProblem[] = [];
    for (const f of natives) {
      problems.push(...(await checkNativeFile({ pkg: f.placement.name, topLevel: f.placement.top, file: f.src, shown: f.rel }, target, (rel) => copied.get(rel), added)));
    }
    if (problems.length > 0) {
      const lines = problems.map((p) => `  ${p.pkg}: ${p.shown} ${p.what}`);
      const fixes = [...new Set(problems.map((p) => fixFor(p, target, dir)))];
      throw new BuildError("FNRUN_BUILD_NATIVE_MISMATCH", `bundle \`${dir}\`: native addon${problems.length > 1 ? "s do" : " does"} not match the image:\n${lines.join("\n")}`, { fix: fixes.join("\n  fix: ") });
    }
  }
  const filesDigest = await digestOf(files);
  const libs = [...added.values()].sort((a, b) => (a.soname < b.soname ? -1 : 1));
  if (libs.length === 0) return { files, filesDigest, libs, digest: filesDigest };
  const h = createHash("sha256").update(filesDigest);
  for (const l of libs) h.update(`\n${l.target}\0${createHash("sha256").update(await readFile(l.source)).digest("hex")}`);
  return { files, filesDigest, libs, digest: `sha256:${h.digest("hex")}` };
}

/** The build context's folder of glibc libraries the base lacks (`COPY libs <libDir>/`); removed when none. */
const CONTEXT_LIBS = "libs";

async function writeLibs(dir: string, libs: readonly AddedLibrary[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  if (libs.length === 0) return;
  await mkdir(dir);
  await chmod(dir, 0o755);
  for (const l of libs) await writeAtomic(path.join(dir, l.soname), await readFile(l.source), 0o644);
}

let host: Promise<NativeTarget> | undefined;
/** What the image will run: the host's node and libraries for fnrun's base, else the base's rootfs. */
async function targetOf(store: ImageStore, options: BuildFunctionOptions): Promise<NativeTarget> {
  if (options.bootstrap === undefined) {
    // Once per process (ldd of node), but a failure is not kept: the next build asks again.
    return (host ??= hostTarget().catch((err: unknown) => {
      host = undefined;
      throw err;
    }));
  }
  const rootfs = await store.rootfs(options.base.digest);
  return rootfsTarget(rootfs, options.base.config.architecture, options.base.config.config?.Env ?? []);
}

async function writeAtomic(dest: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = path.join(path.dirname(dest), `.${tempName()}`);
  await writeFile(tmp, data);
  // Explicit, not via writeFile's mode, which the umask narrows: COPY keeps the file's mode, and
  // the function runs as uid 1000, so the bundle must be world-readable whatever the umask.
  await chmod(tmp, mode);
  await rename(tmp, dest);
}
