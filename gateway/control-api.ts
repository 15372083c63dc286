/**
 * @module gateway/control-api
 * The daemon's versioned REST API (/v1/...), served on a root-only unix socket. The CLI
 * is its only client, as docker is dockerd's. Handlers are closures over what they need.
 */
import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { Hono } from "hono";
import { randomUUID } from "node:crypto";
import type { Deployer, DeployResult } from "./deployer.ts";
import type { DeploymentLog } from "./deployments.ts";
import type { InvocationLog } from "./invocation-log.ts";
import { httpErrorFor } from "./errors.ts";
import type { FunctionDefinition, FunctionPools } from "./function-definition.ts";
import { proxy, sendError } from "./proxy.ts";
import { createJobsApi } from "./control-jobs.ts";
import type { JobService } from "./jobs.ts";
import { serveLogs } from "./log-reader.ts";
import { createImagesApi, type ImagesApiOptions } from "./control-images.ts";
import { createExportApi } from "./control-export.ts";
import { deployEvents, wantsEvents } from "./deploy-stream.ts";
import { mountSecretRoutes, type SecretRoutesOptions } from "./secrets.ts";
import type { RouteTable } from "./routes.ts";
import { createConsoleApi } from "./control-console.ts";
import type { DeployHistory } from "./deploy-history.ts";

export interface ControlApiOptions {
  deployer: Deployer;
  deployments: DeploymentLog;
  invocations: InvocationLog;
  pools: FunctionPools;
  routes: () => RouteTable;
  maxBodyBytes: number;
  version: string;
  /** The image endpoints (control-images.ts). */
  images?: ImagesApiOptions;
  /** Re-reads config.toml and redeploys what changed (gateway/reload.ts); throws ConfigError for a bad one. */
  reload?: () => Promise<unknown>;
  /** Scheduled jobs (GET /v1/jobs, POST /v1/jobs/:name/run: control-jobs.ts). */
  jobs?: () => JobService | null;
  /** `fnrun secret`: keys and redeploys (gateway/secrets.ts). */
  secrets?: SecretRoutesOptions;
  /** The web console's snapshot and the deploy history (GET /v1/overview, /v1/deploys: control-console.ts). */
  history?: DeployHistory;
}

export function createControlApi(opts: ControlApiOptions) {
  const app = new Hono<{ Bindings: HttpBindings }>().basePath("/v1");
  if (opts.images) app.route("/", createImagesApi(opts.images));
  // fnrun export k8s: settings from config.toml, digests of the deployed revisions, secret keys only.
  app.route("/", createExportApi({ deployments: opts.deployments, pools: opts.pools, config: opts.images?.config, secrets: opts.secrets?.secrets }));

  app.onError((err, c) => {
    const e = httpErrorFor(err);
    const kind = (err as { kind?: string }).kind;
    // User errors (bad config, bad function) are 400s the CLI prints as they are.
    const status = e.status === 500 && kind === "user" ? 400 : e.status;
    return c.json({ ...e.body, kind: kind ?? "system", diagnostics: (err as { diagnostics?: unknown }).diagnostics }, status as 400);
  });

  app.get("/health", (c) => c.json({ ok: true, version: opts.version, functions: opts.pools.list().length }));

  app.get("/pool", (c) => c.json(opts.pools.stats));

  // A bad config throws ConfigError (400 with every diagnostic, via onError) and changes nothing.
  app.post("/reload", async (c) => {
    if (!opts.reload) return c.json({ error: "not found", code: "FNRUN_ROUTE_NOT_FOUND", message: "this daemon cannot reload" }, 404);
    const result = (await opts.reload()) as { failed?: unknown[] };
    return c.json(result, result.failed?.length ? 207 : 200);
  });

  // Recent invocations, newest last: how each started (warm, stem, cold) and its phase timings.
  app.get("/invocations", (c) => {
    const limit = Math.max(1, Math.min(1000, Number(c.req.query("limit") ?? 100) || 100));
    return c.json(opts.invocations.recent(limit, c.req.query("fn") || undefined));
  });

  app.get("/functions", (c) => {
    const stats = new Map(opts.pools.list().map((s) => [s.name, s]));
    return c.json(
      opts.deployments.list().map((d) => ({
        ...d,
        routes: opts.routes().routesOf(d.name),
        instances: stats.get(d.name) ?? null,
        invocations: opts.invocations.counts(d.name),
      })),
    );
  });

  app.post("/functions", async (c) => {
    const { path } = await jsonBody<{ path?: unknown }>(c.req.raw);
    if (typeof path !== "string" || path === "") return c.json({ error: "bad request", code: "FNRUN_BAD_REQUEST", message: 'expected a JSON body like {"path": "/abs/functions/hello"}' }, 400);
    // `fnrun deploy` asks for events: each step as it finishes (deploy-stream.ts).
    if (wantsEvents(c.req.header("accept"))) return deployEvents(opts.deployer, path);
    const results: Array<DeployResult | { name: string; error: ReturnType<typeof httpErrorFor>["body"] }> = [];
    for (const dir of await opts.deployer.functionDirs(path)) {
      const fc = opts.deployer.configFor(dir);
      try {
        results.push(await opts.deployer.deploy(fc));
      } catch (err) {
        results.push({ name: fc.name, error: { ...httpErrorFor(err).body, message: (err as Error).message } });
      }
    }
    const failed = results.filter((r) => "error" in r).length;
    return c.json({ results }, failed === 0 ? 200 : failed === results.length ? 422 : 207);
  });

  app.post("/builds", async (c) => {
    const { path } = await jsonBody<{ path?: unknown }>(c.req.raw);
    if (typeof path !== "string" || path === "") return c.json({ error: "bad request", code: "FNRUN_BAD_REQUEST", message: 'expected a JSON body like {"path": "/abs/functions/hello"}' }, 400);
    const out = [];
    for (const dir of await opts.deployer.functionDirs(path)) {
      const fc = opts.deployer.configFor(dir);
      const built = await opts.deployer.build(fc);
      out.push({ name: fc.name, image: built.image.digest, tag: built.image.ref, dockerfile: built.dockerfile, context: built.contextDir });
    }
    return c.json({ results: out });
  });

  app.delete("/functions/:name", async (c) => {
    const name = c.req.param("name");
    if (!(await opts.deployer.remove(name))) return c.json({ error: "function not found", code: "FNRUN_FUNCTION_NOT_FOUND", message: `function \`${name}\` is not deployed` }, 404);
    return c.json({ removed: name });
  });

  app.get("/functions/:name/logs", async (c) => {
    const name = c.req.param("name");
    const def = opts.pools.definition(name);
    if (!def) return c.json({ error: "function not found", code: "FNRUN_FUNCTION_NOT_FOUND", message: `function \`${name}\` is not deployed` }, 404);
    // ?since=10m|ISO &invocation=ID &tail=N &follow=1 (streams new lines until the client leaves)
    await serveLogs(def.logFile, (k) => c.req.query(k), c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  });

  // Invokes the function with the request as it came (method, headers, body), at `?path=`.
  app.all("/functions/:name/invoke", async (c) => {
    const name = c.req.param("name");
    const { incoming, outgoing } = c.env;
    const def = opts.pools.definition(name);
    const path = c.req.query("path") ?? `/${name}`;
    if (!def || !path.startsWith("/")) {
      sendError(outgoing, Object.assign(new Error(def ? "`path` must start with /" : `function \`${name}\` is not deployed`), { code: def ? "FNRUN_BAD_REQUEST" : "FNRUN_FUNCTION_NOT_FOUND" }));
      return RESPONSE_ALREADY_SENT;
    }
    let lease;
    try {
      lease = await opts.pools.acquire(name);
    } catch (err) {
      sendError(outgoing, err);
      return RESPONSE_ALREADY_SENT;
    }
    const result = await proxy(incoming, outgoing, lease, { fn: name, invocationId: randomUUID(), timeoutMs: def.config.timeoutMs, maxBodyBytes: opts.maxBodyBytes, path });
    lease.release(result.outcome);
    return RESPONSE_ALREADY_SENT;
  });

  if (opts.secrets) mountSecretRoutes(app, opts.secrets);

  app.route("/", createJobsApi(opts.jobs ?? (() => null)));
  if (opts.history) app.route("/", createConsoleApi({ ...opts, jobs: opts.jobs ?? (() => null), history: opts.history }));

  app.notFound((c) => c.json({ error: "not found", code: "FNRUN_ROUTE_NOT_FOUND", message: `no control endpoint ${c.req.method} ${c.req.path}` }, 404));
  return app;
}

async function jsonBody<T>(req: Request): Promise<Partial<T>> {
  try {
    return (await req.json()) as Partial<T>;
  } catch {
    return {};
  }
}
