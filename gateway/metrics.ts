/**
 * @module gateway/metrics
 * The daemon's Prometheus metrics (text exposition format, prom-client), served at
 * `GET /metrics` on the control listeners only — never on the public gateway, whose clients
 * must not learn which functions exist or how busy they are. Counters and histograms are
 * fed by the gateway's invocation records and the deployer; gauges (instances, stem cells,
 * memory) are read from the pools at scrape time, so they are never stale.
 *
 * Labels are bounded: `function` is a deployed function's name (config-validated), `status`
 * an HTTP status, `kind`/`phase`/`state` small fixed sets. Nothing of a request (path, query,
 * headers) or of a function's env or secrets becomes a label.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { TallyCounter, TallyHistogram } from "./metric-tally.ts";
import type { DeployResult } from "./deployer.ts";
import type { FunctionPools } from "./function-definition.ts";
import type { InvocationRecord } from "./public-server.ts";

/** Latency buckets (seconds): a warm call is ~1 ms, a cold start ~100 ms–1 s, a timeout up to minutes. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BUILD_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A record with the lease's start phases, when the gateway knows them. */
export type MeteredInvocation = InvocationRecord & { createMs?: number; specializeMs?: number };

export class Metrics {
  readonly registry = new Registry();
  // Updated on every request: tallies (metric-tally.ts), not prom-client's own inc/observe.
  readonly invocations: TallyCounter<"function" | "status">;
  readonly duration: TallyHistogram<"function">;
  readonly starts: TallyCounter<"function" | "kind">;
  readonly startPhases: TallyHistogram<"kind" | "phase">;
  readonly rejected: Counter<"function" | "status">;
  readonly timeouts: Counter<"function">;
  /** Kernel OOM kills of function instances; exported so that whoever sees one (the runtime's exit handling) can count it. */
  readonly oomKills: Counter<"function">;
  readonly builds: Histogram<"function" | "step">;
  readonly deployFailures: Counter<"function">;

  constructor(pools?: Pick<FunctionPools, "list" | "stats">) {
    const registers = [this.registry];
    const registry = this.registry;
    this.invocations = new TallyCounter({ name: "fnrun_invocations_total", help: "Finished invocations by function and HTTP status.", labelNames: ["function", "status"], registry });
    this.duration = new TallyHistogram({ name: "fnrun_invocation_duration_seconds", help: "Time from request arrival to the end of the response, by function.", labelNames: ["function"], buckets: DURATION_BUCKETS, registry });
    this.starts = new TallyCounter({ name: "fnrun_starts_total", help: "How invocations got their instance: warm (idle instance), stem (specialized stem cell), cold (container from the image).", labelNames: ["function", "kind"], registry });
    this.startPhases = new TallyHistogram({ name: "fnrun_start_phase_seconds", help: "Phases of getting an instance by start kind: queue (waiting for a slot, start included), start (the whole instance start), create (container creation), specialize (stem cell becoming the function).", labelNames: ["kind", "phase"], buckets: DURATION_BUCKETS, registry });
    this.rejected = new Counter({ name: "fnrun_rejected_total", help: "Requests refused before reaching a function: 429 (queue full), 503 (host at capacity or function being replaced).", labelNames: ["function", "status"], registers });
    this.timeouts = new Counter({ name: "fnrun_timeouts_total", help: "Invocations cut off at their function's timeout (504).", labelNames: ["function"], registers });
    this.oomKills = new Counter({ name: "fnrun_oom_kills_total", help: "Function instances killed by the kernel's OOM killer at their memory limit.", labelNames: ["function"], registers });
    this.builds = new Histogram({ name: "fnrun_deploy_step_seconds", help: "Time of each deploy step: bundle (esbuild), image (layer and store), build (both), start (instances warmed), total.", labelNames: ["function", "step"], buckets: BUILD_BUCKETS, registers });
    this.deployFailures = new Counter({ name: "fnrun_deploy_failures_total", help: "Deploys that failed (build error, function failed to load, ...).", labelNames: ["function"], registers });

    if (!pools) return;
    new Gauge({
      name: "fnrun_instances", help: "Function instances by state: busy (a request in flight), idle (warm), starting.", labelNames: ["function", "state"], registers,
      collect() {
        this.reset();
        for (const p of pools.list()) {
          this.set({ function: p.name, state: "busy" }, p.busy);
          this.set({ function: p.name, state: "idle" }, p.idle);
          this.set({ function: p.name, state: "starting" }, p.starting);
        }
      },
    });
    new Gauge({
      name: "fnrun_queued_requests", help: "Requests waiting for an instance slot, by function.", labelNames: ["function"], registers,
      collect() {
        this.reset();
        for (const p of pools.list()) this.set({ function: p.name }, p.queued);
      },
    });
    new Gauge({
      name: "fnrun_stem_cells", help: "Stem cells (prewarmed containers with no function yet) by state; target is the configured pool size.", labelNames: ["state"], registers,
      collect() {
        const s = pools.stats.stemCells;
        this.set({ state: "ready" }, s.ready);
        this.set({ state: "starting" }, s.starting);
        this.set({ state: "target" }, s.size);
      },
    });
    new Gauge({
      name: "fnrun_memory_bytes", help: "The memory budget of all instances and the part reserved by running ones.", labelNames: ["kind"], registers,
      collect() {
        const m = pools.stats.memory;
        this.set({ kind: "budget" }, m.budget);
        this.set({ kind: "reserved" }, m.reserved);
      },
    });
  }

  /** One finished (or refused) invocation, as the public gateway reports it (onInvocation). */
  record(r: MeteredInvocation): void {
    const status = String(r.status);
    if (r.outcome === "unavailable") {
      if (r.status === 429 || r.status === 503) this.rejected.inc({ function: r.fn, status });
    } else {
      this.invocations.add(r.fn, status);
      this.duration.observe(r.totalMs / 1000, r.fn);
    }
    if (r.outcome === "timeout") this.timeouts.inc({ function: r.fn });
    // proxy.ts marks an invocation whose instance the kernel OOM-killed.
    if (r.functionError === "oom") this.oomKills.inc({ function: r.fn });
    if (r.kind) {
      this.starts.add(r.fn, r.kind);
      this.startPhases.observe(r.queueMs / 1000, r.kind, "queue");
      if (r.kind !== "warm") {
        this.startPhases.observe(r.startMs / 1000, r.kind, "start");
        if (r.createMs !== undefined && r.kind === "cold") this.startPhases.observe(r.createMs / 1000, r.kind, "create");
        if (r.specializeMs !== undefined && r.kind === "stem") this.startPhases.observe(r.specializeMs / 1000, r.kind, "specialize");
      }
    }
  }

  /** A deploy's step times (DeployResult.timings, ms). */
  deployed(r: Pick<DeployResult, "name" | "timings">): void {
    for (const step of ["build", "start", "total"] as const) this.builds.observe({ function: r.name, step }, r.timings[step] / 1000);
  }

  /** Wraps `deployer.deploy` so that every deploy, whoever asks for it, is measured. */
  instrument<D extends { deploy(fc: { name: string }, ...rest: any[]): Promise<DeployResult> }>(deployer: D): D {
    const deploy = deployer.deploy.bind(deployer);
    deployer.deploy = async (fc, onStep?: unknown, ...rest) => {
      // The builder's own steps (bundle, image) as they finish; build/start/total from the result.
      const steps = (step: string, ms: number) => {
        if (step === "bundle" || step === "image") this.builds.observe({ function: fc.name, step }, ms / 1000);
        if (typeof onStep === "function") onStep(step, ms);
      };
      try {
        const result = await deploy(fc, steps, ...rest);
        this.deployed(result);
        return result;
      } catch (err) {
        this.deployFailures.inc({ function: fc.name });
        throw err;
      }
    };
    return deployer;
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

type Fetch = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** `fetch` with `GET /metrics` answered from `metrics` (the control API itself lives under /v1). */
export function withMetricsRoute<F extends Fetch>(fetch: F, metrics: Metrics): F {
  return (async (request: Request, ...rest: unknown[]) => {
    if (new URL(request.url).pathname === "/metrics") {
      if (request.method !== "GET" && request.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
      const { contentType, body } = await metrics.scrape();
      return new Response(request.method === "HEAD" ? null : body, { headers: { "content-type": contentType, "cache-control": "no-store" } });
    }
    return fetch(request, ...rest);
  }) as F;
}
