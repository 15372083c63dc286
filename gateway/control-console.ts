/**
 * @module gateway/control-console
 * What the web console (gateway/console/) reads, mounted by control-api.ts under /v1:
 *   GET /v1/overview   one snapshot of everything the console shows: functions (routes,
 *                      revision, instances by state, memory), stem cells and the memory budget,
 *                      recent invocations with their phase timings, jobs with their recent runs,
 *                      and the deploy history. ?invocations=N (1–200, default 50) &fn=NAME
 *   GET /v1/deploys    the deploy history, newest first. ?limit=N &fn=NAME
 *
 * The console polls the overview once a second rather than being pushed each invocation:
 * the snapshot costs the same at 10 or 10 000 requests a second (it reads the bounded rings
 * the gateway already fills), and nothing is added to the request path for it.
 */
import { Hono } from "hono";
import type { DeployHistory } from "./deploy-history.ts";
import type { DeploymentLog } from "./deployments.ts";
import type { FunctionPools } from "./function-definition.ts";
import type { InvocationLog } from "./invocation-log.ts";
import type { JobService } from "./jobs.ts";
import type { RouteTable } from "./routes.ts";

/** Runs of each job in the overview (the whole history is at GET /v1/jobs/NAME). */
const JOB_RUNS = 5;
const DEPLOY_EVENTS = 20;

export interface ConsoleApiOptions {
  pools: FunctionPools;
  deployments: DeploymentLog;
  invocations: InvocationLog;
  routes: () => RouteTable;
  jobs: () => JobService | null;
  history: DeployHistory;
  version: string;
}

export function createConsoleApi(opts: ConsoleApiOptions) {
  const app = new Hono();

  app.get("/overview", (c) => {
    const limit = bounded(c.req.query("invocations"), 50, 200);
    const fn = c.req.query("fn") || undefined;
    c.header("cache-control", "no-store");
    return c.json({
      version: opts.version,
      now: new Date().toISOString(),
      functions: functionsOf(opts),
      pool: opts.pools.stats,
      invocations: opts.invocations.recent(limit, fn).reverse(),
      jobs: jobsOf(opts.jobs()),
      deploys: opts.history.recent(DEPLOY_EVENTS),
    });
  });

  app.get("/deploys", (c) => {
    c.header("cache-control", "no-store");
    return c.json(opts.history.recent(bounded(c.req.query("limit"), 100, 100), c.req.query("fn") || undefined));
  });

  return app;
}

function bounded(raw: string | undefined, fallback: number, max: number): number {
  return Math.max(1, Math.min(max, Number(raw ?? fallback) || fallback));
}

function functionsOf(opts: ConsoleApiOptions) {
  const stats = new Map(opts.pools.list().map((s) => [s.name, s]));
  const routes = opts.routes();
  // By name: on a busy host the rows stay where they are between snapshots.
  const deployed = opts.deployments.list().sort((a, b) => a.name.localeCompare(b.name));
  return deployed.map((d) => {
    const s = stats.get(d.name);
    const memoryBytes = opts.pools.definition(d.name)?.memoryBytes ?? null;
    return {
      name: d.name,
      revision: d.revision,
      deployedAt: d.deployedAt,
      source: d.source ?? d.dir,
      routes: routes.routesOf(d.name),
      instances: s ? { busy: s.busy, idle: s.idle, starting: s.starting, inflight: s.inflight, queued: s.queued } : null,
      // What its instances hold of the memory budget: each is reserved its limit.
      memory: { limitBytes: memoryBytes, reservedBytes: memoryBytes !== null && s ? memoryBytes * (s.instances + s.starting) : 0 },
      invocations: opts.invocations.counts(d.name),
    };
  });
}

function jobsOf(jobs: JobService | null) {
  if (!jobs) return [];
  return jobs.list().map((j) => ({
    ...j,
    lastRun: j.lastRun ? withoutLogs(j.lastRun) : null,
    recent: jobs.history(j.name).slice(-JOB_RUNS).reverse().map(withoutLogs),
  }));
}

/** Log lines stay out of the snapshot (up to 50 per run): the console shows them for the run it started. */
function withoutLogs<T extends { logs?: unknown }>(run: T): Omit<T, "logs"> {
  const { logs: _logs, ...rest } = run;
  return rest;
}
