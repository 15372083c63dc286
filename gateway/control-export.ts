/**
 * @module gateway/control-export
 * `POST /v1/export/k8s {registry, routes?, knative?, namespace?, hostname?, ingressClass?,
 * gateway?, userNamespaces?}` (mounted under /v1 by control-api.ts): the Kubernetes objects of
 * every deployed function, grouped in files (gateway/k8s/export.ts), as JSON; the CLI writes
 * them as YAML. Settings come from config.toml as it is now (read again, so a bad one is a 400
 * listing every problem); images from the deployed revisions' manifest digests; secrets as keys
 * only. Functions deployed with `fnrun deploy` that config.toml does not name are exported with
 * the settings they run with.
 */
import { Hono } from "hono";
import { defaultConfig, loadConfig, type FnrunConfig, type FunctionConfig } from "./config.ts";
import type { DeploymentLog } from "./deployments.ts";
import type { FunctionPools } from "./function-definition.ts";
import { exportK8s, type DeployedFunction, type K8sExportOptions } from "./k8s/index.ts";
import type { SecretStore } from "./secrets.ts";

export interface ExportApiOptions {
  deployments: DeploymentLog;
  pools: FunctionPools;
  /** The daemon's config: its path is read again on each export. */
  config?: FnrunConfig;
  secrets?: SecretStore;
}

const STRING_OPTIONS = ["registry", "routes", "namespace", "hostname", "ingressClass", "gateway"] as const;
const BOOLEAN_OPTIONS = ["knative", "userNamespaces"] as const;

export function createExportApi(opts: ExportApiOptions) {
  const app = new Hono();

  app.post("/export/k8s", async (c) => {
    let body: Record<string, unknown>;
    try {
      body = (await c.req.json()) as Record<string, unknown>;
    } catch {
      body = {};
    }
    const options: K8sExportOptions = {};
    for (const k of STRING_OPTIONS) {
      if (body[k] === undefined) continue;
      if (typeof body[k] !== "string") return badRequest(c, `\`${k}\` must be a string`);
      (options as Record<string, unknown>)[k] = body[k];
    }
    for (const k of BOOLEAN_OPTIONS) {
      if (body[k] === undefined) continue;
      if (typeof body[k] !== "boolean") return badRequest(c, `\`${k}\` must be true or false`);
      (options as Record<string, unknown>)[k] = body[k];
    }
    // config.toml as it is now; a bad one throws ConfigError: 400 with every problem (control-api's onError).
    const current = opts.config?.path ? (await loadConfig(opts.config.path)).config : (opts.config ?? defaultConfig(process.cwd()));
    const deployed: DeployedFunction[] = [];
    for (const record of [...opts.deployments.list()].sort((a, b) => a.name.localeCompare(b.name))) {
      const config: FunctionConfig | undefined = current.functions.get(record.name) ?? opts.pools.definition(record.name)?.config;
      if (!config) continue; // recorded but not serving (its deploy at start-up failed): nothing runs to export
      deployed.push({ config, revision: record.revision, digest: record.image, secretKeys: opts.secrets?.keys(record.name) ?? [] });
    }
    const notDeployed = [...current.functions.keys()].filter((name) => !opts.deployments.get(name)).sort();
    // A schedule without `timezone` runs in this host's zone under fnrun: the CronJob says so explicitly.
    const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return c.json(exportK8s(deployed, notDeployed, options, hostZone));
  });

  return app;
}

function badRequest(c: { json: (body: unknown, status: 400) => Response }, message: string): Response {
  return c.json({ error: "bad request", code: "FNRUN_BAD_REQUEST", message }, 400);
}
