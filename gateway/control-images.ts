/**
 * @module gateway/control-images
 * The image endpoints of the control API (mounted under /v1 by control-api.ts):
 *
 *   GET  /images                      stored images: size, functions using them
 *   POST /images/prune {revisions?}   garbage-collect the store; never an image in use
 *   POST /images/pull  {ref, insecure?, username?, password?}
 *   POST /images/push  {name, ref, insecure?, username?, password?}   NAME: a function or a store ref
 *   GET  /images/archive?name=&format=docker|oci                     the image as a tar stream
 *   POST /images/deploy {ref, name?, insecure?, username?, password?} deploy from an image
 *   POST /run {ref, cmd?, memoryBytes?, cpu?, ...registry}   a one-off container (one-off.ts); the
 *        answer is NDJSON: {"stream":"stdout"|"stderr","data":<base64>} lines, then {"exit":N}
 *   GET  /containers                  every container with image, limits, state (containers.ts)
 *
 * Registry credentials travel in the request body over the root-only socket and are never
 * stored or logged.
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Hono } from "hono";
import { collectGarbage, pullImage, pushImage, writeImageArchive, type ImageInfo, type ImageStore, type RegistryOptions } from "../builder/index.ts";
import type { FnrunConfig } from "./config.ts";
import type { Deployer } from "./deployer.ts";
import type { DeploymentLog } from "./deployments.ts";
import type { FunctionPools } from "./function-definition.ts";
import type { Runc } from "../runtime/runc.ts";
import { listContainers } from "./containers.ts";
import { deployImage } from "./image-deploy.ts";
import { runOneOff } from "./one-off.ts";

export interface ImagesApiOptions {
  store: ImageStore;
  deployer: Deployer;
  deployments: DeploymentLog;
  pools: FunctionPools;
  config: FnrunConfig;
  /** The stem cells' base image. */
  base: () => Promise<ImageInfo>;
  runc: Runc;
  /** The path runc should use for an unpacked rootfs (RootfsMount.pathOf). */
  rootfsPath: (dir: string) => string;
}

interface RegistryBody {
  insecure?: unknown;
  username?: unknown;
  password?: unknown;
}

export function createImagesApi(opts: ImagesApiOptions) {
  const app = new Hono();
  const { store } = opts;

  /** Manifest digests something runs or serves: deployed functions, live pools, the base. */
  const inUse = async (): Promise<Map<string, string[]>> => {
    const users = new Map<string, string[]>();
    const add = (digest: string, who: string) => users.set(digest, [...new Set([...(users.get(digest) ?? []), who])]);
    for (const d of opts.deployments.list()) add(d.image, d.name);
    for (const p of opts.pools.list()) {
      const def = opts.pools.definition(p.name);
      if (def) add(def.image, p.name);
    }
    add((await opts.base()).digest, "(stem cells)");
    return users;
  };

  app.get("/images", async (c) => {
    const users = await inUse();
    const images = (await store.list()).map((i) => ({ ...i, functions: users.get(i.digest) ?? [] }));
    return c.json(images);
  });

  app.post("/images/prune", async (c) => {
    const body = await jsonBody<{ revisions?: unknown }>(c.req.raw);
    const users = await inUse();
    const keepRootfs = await rootfsOfContainers(opts.config.daemon.stateDir);
    // --revisions: also drop fn/<name>:<rev> tags of revisions no function serves any more.
    const result = await collectGarbage(store, { inUse: users.keys(), keepRootfs, untag: body.revisions === true ? (ref) => ref.startsWith("fn/") : undefined });
    return c.json(result);
  });

  app.post("/images/pull", async (c) => {
    const body = await jsonBody<{ ref?: unknown } & RegistryBody>(c.req.raw);
    if (typeof body.ref !== "string" || !body.ref) return badRequest(c, 'expected a JSON body like {"ref": "127.0.0.1:5000/team/hello:v1"}');
    const t0 = performance.now();
    const r = await pullImage(store, body.ref, registryOptions(body));
    return c.json({ ref: r.image.ref, digest: r.image.digest, downloaded: r.downloaded, cached: r.cached, bytes: r.bytes, ms: Math.round(performance.now() - t0) });
  });

  app.post("/images/push", async (c) => {
    const body = await jsonBody<{ name?: unknown; ref?: unknown } & RegistryBody>(c.req.raw);
    if (typeof body.name !== "string" || typeof body.ref !== "string" || !body.name || !body.ref) return badRequest(c, 'expected a JSON body like {"name": "hello", "ref": "127.0.0.1:5000/team/hello:v1"}');
    const t0 = performance.now();
    const r = await pushImage(store, sourceOf(opts.deployments, body.name), body.ref, registryOptions(body));
    return c.json({ ...r, ms: Math.round(performance.now() - t0) });
  });

  app.get("/images/archive", async (c) => {
    const name = c.req.query("name") ?? "";
    const format = c.req.query("format") ?? "docker";
    if (!name || (format !== "docker" && format !== "oci")) return badRequest(c, "expected ?name=IMAGE&format=docker|oci");
    const source = sourceOf(opts.deployments, name);
    await store.resolve(source); // a missing image is a 404 before any byte is sent
    const out = new PassThrough();
    // A function name is saved under its image's tag, so `docker load` gives it a name.
    const repoTag = source.startsWith("sha256:") ? (await store.tags()).find((t) => t.digest === source)?.ref : undefined;
    writeImageArchive(store, source, out, { format, repoTag }).catch((err) => out.destroy(err as Error));
    return new Response(Readable.toWeb(out) as ReadableStream, { headers: { "content-type": "application/x-tar" } });
  });

  app.post("/images/deploy", async (c) => {
    const body = await jsonBody<{ ref?: unknown; name?: unknown } & RegistryBody>(c.req.raw);
    if (typeof body.ref !== "string" || !body.ref) return badRequest(c, 'expected a JSON body like {"ref": "127.0.0.1:5000/team/hello:v1", "name": "hello"}');
    const result = await deployImage({ store, deployer: opts.deployer, config: opts.config }, body.ref, typeof body.name === "string" && body.name ? body.name : undefined, registryOptions(body));
    return c.json(result);
  });

  app.get("/containers", async (c) => c.json(await listContainers({ runc: opts.runc, store, pools: opts.pools })));

  app.post("/run", async (c) => {
    const body = await jsonBody<{ ref?: unknown; cmd?: unknown; memoryBytes?: unknown; cpu?: unknown } & RegistryBody>(c.req.raw);
    if (typeof body.ref !== "string" || !body.ref) return badRequest(c, 'expected a JSON body like {"ref": "fnrun/base:...", "cmd": ["node", "-v"]}');
    if (body.cmd !== undefined && !(Array.isArray(body.cmd) && body.cmd.every((a) => typeof a === "string"))) return badRequest(c, "`cmd` must be an array of strings");
    const d = opts.config.defaults;
    const limits = {
      memoryBytes: typeof body.memoryBytes === "number" && body.memoryBytes >= 4 << 20 ? body.memoryBytes : d.memoryBytes,
      cpu: typeof body.cpu === "number" && body.cpu > 0 ? body.cpu : d.cpu,
      pids: d.pids,
      tmpBytes: d.tmpBytes,
    };
    const abort = new AbortController();
    const out = new PassThrough();
    const line = (v: unknown) => out.write(JSON.stringify(v) + "\n");
    // Resolving and pulling happen before the answer starts, so a bad reference is a plain error.
    const ready = runOneOff(
      { store, runc: opts.runc, stateDir: opts.config.daemon.stateDir, rootfsPath: opts.rootfsPath },
      { ref: body.ref, cmd: body.cmd as string[] | undefined, limits, registry: registryOptions(body) },
      (stream, chunk) => line({ stream, data: chunk.toString("base64") }),
      abort.signal,
    );
    ready.then((code) => line({ exit: code }), (err: Error) => line({ error: err.message, code: (err as { code?: string }).code })).finally(() => out.end());
    // The caller went away (Ctrl-C in `fnrun run`): the container goes too.
    c.req.raw.signal.addEventListener("abort", () => abort.abort(), { once: true });
    return new Response(Readable.toWeb(out) as ReadableStream, { headers: { "content-type": "application/x-ndjson" } });
  });

  return app;
}

/** A deployed function's name stands for its image; anything else is a store tag or digest. */
function sourceOf(deployments: DeploymentLog, name: string): string {
  return deployments.get(name)?.image ?? name;
}

function registryOptions(body: RegistryBody): RegistryOptions {
  const credentials = typeof body.username === "string" && body.username ? { username: body.username, password: typeof body.password === "string" ? body.password : "" } : undefined;
  return { insecure: body.insecure === true, credentials };
}

/** Rootfs dirs (chain id hex) named by the bundles of containers on this state dir. */
async function rootfsOfContainers(stateDir: string): Promise<string[]> {
  const dir = join(stateDir, "instances");
  const keys: string[] = [];
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const spec = await readFile(join(dir, id, "config.json"), "utf8").then((t) => JSON.parse(t) as { root?: { path?: string } }, () => null);
    if (spec?.root?.path) keys.push(basename(spec.root.path));
  }
  return keys;
}

async function jsonBody<T>(req: Request): Promise<Partial<T>> {
  try {
    return (await req.json()) as Partial<T>;
  } catch {
    return {};
  }
}

function badRequest(c: { json: (body: unknown, status: 400) => Response }, message: string): Response {
  return c.json({ error: "bad request", code: "FNRUN_BAD_REQUEST", message }, 400);
}
