/**
 * @module gateway/deployer
 * Deploy = build the folder into an image, make it the serving revision (warmed before
 * it takes traffic), route it, record it. A deploy that fails at any step changes nothing
 * that was serving.
 */
import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { ImageInfo, ImageStore } from "../builder/index.ts";
import { APP_DIR_IN_IMAGE, buildFunction, CONTEXT_NODE_MODULES, ENTRY_IN_IMAGE } from "../builder/index.ts";
import { functionConfigFor, type FnrunConfig, type FunctionConfig } from "./config.ts";
import type { DeploymentLog, DeploymentRecord } from "./deployments.ts";
import type { PooledInstance } from "../runtime/function-pool.ts";
import type { FunctionDefinition, FunctionPools } from "./function-definition.ts";
import { defaultRoutes, type RouteSpec } from "./routes.ts";
import { functionBase } from "./image-deploy.ts";

const ENTRY_NAMES = ["index.ts", "index.js", "index.mjs"];

export interface DeployResult {
  name: string;
  revision: string;
  image: string;
  routes: RouteSpec[];
  dockerfile: string;
  /** Milliseconds of each step. */
  timings: { build: number; start: number; total: number };
}

/** The steps of a deploy, in order. */
export type DeployStep = "bundle" | "image" | "start";

export interface DeployerOptions {
  config: FnrunConfig;
  store: ImageStore;
  base: () => Promise<ImageInfo>;
  pools: FunctionPools;
  deployments: DeploymentLog;
  /** Called when a function's routes change (null: removed). */
  onRoutes: (name: string, routes: RouteSpec[] | null) => void;
  /** Asked about the new revision's first instance before it serves; throwing fails the deploy (jobs.ts checks scheduled()). */
  verify?: (def: FunctionDefinition, instance: PooledInstance) => Promise<void>;
}

export class Deployer {
  readonly #opts: DeployerOptions;
  /** One deploy at a time per function: the second waits, then replaces the first. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(opts: DeployerOptions) {
    this.#opts = opts;
  }

  /** The function folders `path` stands for: itself, or its subfolders holding an entry file. */
  async functionDirs(path: string): Promise<string[]> {
    const dir = resolve(path);
    if (await hasEntry(dir)) return [dir];
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      throw Object.assign(new Error(`deploy \`${path}\`: ${err.code === "ENOENT" ? "no such folder" : err.message}`), { code: "FNRUN_BAD_FUNCTION_DIR", kind: "user" });
    });
    const dirs: string[] = [];
    for (const e of entries) if (e.isDirectory() && e.name !== "node_modules" && (await hasEntry(join(dir, e.name)))) dirs.push(join(dir, e.name));
    if (dirs.length === 0) {
      throw Object.assign(new Error(`deploy \`${path}\`: no function found: the folder has no ${ENTRY_NAMES.join(", ")} and no subfolder with one`), {
        code: "FNRUN_BAD_FUNCTION_DIR",
        kind: "user",
      });
    }
    return dirs.sort();
  }

  /** The settings of the function in `dir`: config.toml's when it names that folder, defaults otherwise. */
  /** Function `name`'s config: config.toml's, else the defaults for a folder deployed with the CLI. Two functions may share a folder. */
  configOf(name: string, dir: string): FunctionConfig {
    return this.#opts.config.functions.get(name) ?? functionConfigFor(this.#opts.config, name, dir);
  }

  configFor(dir: string): FunctionConfig {
    for (const fc of this.#opts.config.functions.values()) if (resolve(fc.dir) === dir) return fc;
    return functionConfigFor(this.#opts.config, basename(dir), dir);
  }

  /** Builds the image of `fc` (and its Dockerfile) without deploying it. */
  async build(fc: FunctionConfig, onStep?: (step: DeployStep, ms: number) => void) {
    const { base, bootstrap } = await functionBase(this.#opts.store, fc.base, this.#opts.base);
    return buildFunction(this.#opts.store, { name: fc.name, dir: fc.dir, stateDir: this.#opts.config.daemon.stateDir, base, bootstrap, onStep, engine: this.#opts.config.build.engine });
  }

  /** `onStep` is told as each step (bundle, image, start) is done, with its ms (`fnrun deploy` progress). */
  deploy(fc: FunctionConfig, onStep?: (step: DeployStep, ms: number) => void): Promise<DeployResult> {
    const prev = this.#locks.get(fc.name) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.#deploy(fc, onStep));
    this.#locks.set(fc.name, next);
    void next.finally(() => this.#locks.get(fc.name) === next && this.#locks.delete(fc.name)).catch(() => {});
    return next;
  }

  /** Deploys a ready image (`fnrun deploy --image`, image-deploy.ts) instead of building fc.dir. */
  deployImage(fc: FunctionConfig, image: ImageInfo): Promise<DeployResult> {
    const prev = this.#locks.get(fc.name) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.#deploy(fc, undefined, image));
    this.#locks.set(fc.name, next);
    void next.finally(() => this.#locks.get(fc.name) === next && this.#locks.delete(fc.name)).catch(() => {});
    return next;
  }

  async remove(name: string): Promise<boolean> {
    const removed = await this.#opts.pools.remove(name);
    this.#opts.onRoutes(name, null);
    const known = this.#opts.deployments.get(name) !== undefined;
    await this.#opts.deployments.delete(name);
    return removed || known;
  }

  async #deploy(fc: FunctionConfig, onStep?: (step: DeployStep, ms: number) => void, ready?: ImageInfo): Promise<DeployResult> {
    const t0 = performance.now();
    const built = ready ? { image: ready, dockerfile: "" } : await this.build(fc, onStep);
    const t1 = performance.now();
    const { store } = this.#opts;
    const [rootfs, image, base] = await Promise.all([store.rootfs(built.image.digest), store.imageConfig(built.image.digest), this.#opts.base()]);
    const routes: RouteSpec[] = fc.routes.length > 0 ? fc.routes : defaultRoutes(fc.name);
    const def: FunctionDefinition = {
      name: fc.name,
      revision: revisionOf(built.image.digest, fc),
      config: fc,
      image: built.image.digest,
      rootfs,
      imageConfig: image,
      concurrency: fc.concurrency,
      minInstances: fc.minInstances,
      maxInstances: fc.maxInstances,
      maxQueue: fc.maxQueue,
      memoryBytes: fc.memoryBytes,
      // A stem cell runs the base image with the defaults' /tmp; this image must be that base plus its bundle
      // (and maybe its node_modules, native addons included: the code dir is mounted executable, read-only).
      stemCompatible: sitsOn(built.image, base) && fc.tmpBytes === this.#opts.config.defaults.tmpBytes,
      // placeBundle also places its sibling app/node_modules, when the image has one.
      bundlePath: join(rootfs, ENTRY_IN_IMAGE),
      logFile: join(this.#opts.config.daemon.stateDir, "logs", `${fc.name}.log`),
    };
    const verify = this.#opts.verify;
    // Only a scheduled function has something to verify; a check holds a lease, and a leased
    // instance cannot be evicted for a concurrent deploy under a tight memory budget.
    await this.#opts.pools.deploy(def, verify && def.config.schedule ? (instance) => verify(def, instance) : undefined);
    const t2 = performance.now();
    onStep?.("start", t2 - t1);
    this.#opts.onRoutes(fc.name, routes);
    const record: DeploymentRecord = { name: fc.name, dir: fc.dir, revision: def.revision, image: def.image, deployedAt: new Date().toISOString(), ...(ready ? { source: ready.ref } : {}) };
    await this.#opts.deployments.set(record);
    return {
      name: fc.name,
      revision: def.revision,
      image: def.image,
      routes,
      dockerfile: built.dockerfile,
      timings: { build: Math.round(t1 - t0), start: Math.round(t2 - t1), total: Math.round(t2 - t0) },
    };
  }
}

/** A revision changes when the image or any setting the instance runs with changes. */
function revisionOf(image: string, fc: FunctionConfig): string {
  const settings = JSON.stringify([fc.name, image, fc.memoryBytes, fc.cpu, fc.pids, fc.tmpBytes, fc.env]);
  return createHash("sha256").update(settings).digest("hex").slice(0, 12);
}

/**
 * Whether `image` is exactly `base` plus the bundle's layer, and maybe the layer of its external
 * packages (`COPY node_modules /app/node_modules`): what a stem cell of `base` can become, since
 * specializing places `app/index.mjs` and `app/node_modules` into its code dir.
 */
function sitsOn(image: ImageInfo, base: ImageInfo): boolean {
  const extra = image.layers.length - base.layers.length;
  if (!base.layers.every((l, i) => l.digest === image.layers[i]?.digest)) return false;
  if (extra === 1) return true;
  const built = (image.config.history ?? []).filter((h) => !h.empty_layer).map((h) => h.created_by);
  return extra === 2 && built.at(-1) === `COPY ${CONTEXT_NODE_MODULES} ${APP_DIR_IN_IMAGE}/${CONTEXT_NODE_MODULES}`;
}

async function hasEntry(dir: string): Promise<boolean> {
  for (const name of ENTRY_NAMES) {
    const s = await stat(join(dir, name)).catch(() => null);
    if (s?.isFile()) return true;
  }
  return false;
}
