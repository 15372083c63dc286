/**
 * @module gateway/image-deploy
 * `fnrun deploy --image REF`: deploy a function from an image instead of a folder — pulled
 * first when REF names a registry, else taken from the store. The image must be a function
 * image (fnrun's base + bundle, FNRUN_ENTRY set): what `fnrun build` makes and `fnrun push`
 * sends. Its settings come from config.toml's [functions.NAME] when there is one.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BOOTSTRAP_PATH_IN_IMAGE, formatRegistryRef, isRegistryRef, parseRegistryRef, pullImage, type ImageInfo, type ImageStore, type RegistryOptions } from "../builder/index.ts";
import { functionConfigFor, type FnrunConfig } from "./config.ts";
import type { Deployer, DeployResult } from "./deployer.ts";
import type { DeploymentRecord } from "./deployments.ts";
import type { Logger } from "./log.ts";

export interface ImageDeployOptions {
  store: ImageStore;
  deployer: Deployer;
  config: FnrunConfig;
}

/** The function name an image gives by default: the last path component of its repository. */
export function defaultFunctionName(ref: string): string {
  const repo = isRegistryRef(ref) ? parseRegistryRef(ref).repository : ref.replace(/[:@].*$/, "");
  return repo.split("/").at(-1) ?? repo;
}

/** Gets the image (pulling it when REF is a registry reference) and deploys it as `name`. */
export async function deployImage(opts: ImageDeployOptions, ref: string, name: string | undefined, registry: RegistryOptions = {}): Promise<DeployResult & { pulled?: { downloaded: number; cached: number; ms: number } }> {
  let image: ImageInfo;
  let pulled: { downloaded: number; cached: number; ms: number } | undefined;
  if (isRegistryRef(ref)) {
    const t0 = performance.now();
    const r = await pullImage(opts.store, ref, registry);
    image = r.image;
    pulled = { downloaded: r.downloaded, cached: r.cached, ms: Math.round(performance.now() - t0) };
  } else {
    image = await opts.store.resolve(ref);
  }
  if (!(image.config.config?.Env ?? []).some((e) => e.startsWith("FNRUN_ENTRY="))) {
    throw Object.assign(new Error(`deploy --image \`${ref}\`: not a function image (its config has no FNRUN_ENTRY); deploy an image made by \`fnrun build\`, or run it with \`fnrun run\``), { code: "FNRUN_NOT_A_FUNCTION_IMAGE", kind: "user" });
  }
  const fnName = name ?? defaultFunctionName(ref);
  const fc = functionConfigFor(opts.config, fnName, opts.config.functions.get(fnName)?.dir ?? opts.config.root);
  const result = await opts.deployer.deployImage(fc, image);
  return pulled ? { ...result, pulled } : result;
}

/**
 * At start-up: redeploys the functions an earlier run deployed from images, from the store by
 * digest (no registry needed to restart), keeping their reference as their source.
 */
export async function redeployImages(opts: ImageDeployOptions, records: DeploymentRecord[], log: Logger): Promise<Array<DeployResult | { name: string; error: string }>> {
  return Promise.all(
    records.map(async (r) => {
      try {
        const image = { ...(await opts.store.resolve(r.image)), ref: r.source ?? r.image };
        const fc = functionConfigFor(opts.config, r.name, opts.config.functions.get(r.name)?.dir ?? opts.config.root);
        const result = await opts.deployer.deployImage(fc, image);
        log.info(`deployed ${r.name} from image ${image.ref} (revision ${result.revision})`, { ms: result.timings });
        return result;
      } catch (err) {
        log.error(`deploy ${r.name} from image ${r.source} failed: ${(err as Error).message}`);
        return { name: r.name, error: (err as Error).message };
      }
    }),
  );
}

/**
 * The image a function builds FROM: fnrun's base, or its `base = "REF"` — from the store when
 * there (a registry reference pulled earlier, e.g. with `fnrun pull --insecure`), else pulled
 * over HTTPS. A foreign base gets the bootstrap, read from fnrun's own base image.
 */
export async function functionBase(store: ImageStore, ref: string | undefined, fnrunBase: () => Promise<ImageInfo>): Promise<{ base: ImageInfo; bootstrap?: string }> {
  const own = await fnrunBase();
  if (!ref) return { base: own };
  const storeRef = isRegistryRef(ref) ? formatRegistryRef(parseRegistryRef(ref)) : ref;
  const image = await store.resolve(storeRef).catch(async (err: { code?: string }) => {
    if (!isRegistryRef(ref) || err.code !== "FNRUN_IMAGE_NOT_FOUND") throw err;
    return (await pullImage(store, ref)).image;
  });
  if (image.digest === own.digest) return { base: own };
  const bootstrap = await readFile(join(await store.rootfs(own.digest), BOOTSTRAP_PATH_IN_IMAGE), "utf8");
  return { base: image, bootstrap };
}
