/**
 * @module gateway/jobs
 * Scheduled jobs of deployed functions: the Scheduler (when) wired to the pools (how). A run
 * takes a lease in the function's own warm pool, like a request, and sends the bootstrap
 * `POST /__fnrun/scheduled {cron, scheduledTime}`, which calls the module's
 * scheduled(event, env, ctx). Each run is recorded (outcome, timings, start kind, the log
 * lines its invocation id tagged) in <state>/jobs.json with a bound.
 */
import { randomBytes } from "node:crypto";
import { open, stat } from "node:fs/promises";
import type { PooledInstance } from "../runtime/function-pool.ts";
import type { FunctionDefinition, FunctionPools } from "./function-definition.ts";
import { RUN_LOG_LINE_CHARS, RUN_LOG_LINES, type JobStore, type RunOutcome, type RunRecord } from "./job-store.ts";
import type { Logger } from "./log.ts";
import { LOAD_PATH, SCHEDULED_PATH } from "../runtime/bootstrap/reserved-paths.ts";
import { Schedule } from "./schedule.ts";
import { type Clock, type RunRequest, Scheduler } from "./scheduler.ts";

/** Longest wait for an instance to be warmed ahead of a run. */
export const MAX_WARM_LEAD_MS = 10_000;
/** How long the run's last log lines may take through the pipe into the log file. */
const LOG_SETTLE_MS = 150;
const MAX_LOG_READ = 256 * 1024;

export interface JobServiceOptions {
  pools: FunctionPools;
  store: JobStore;
  log: Logger;
  /** The pool's idle timeout: a warm-up earlier than that before the run would be reaped. */
  idleTimeoutMs: number;
  clock?: Clock;
}

/** One job as the control API shows it. */
export interface JobInfo {
  name: string;
  schedule: string;
  timezone: string | null;
  overlap: string;
  nextRun: string | null;
  running: number;
  lastRun: RunRecord | null;
}

export class JobService {
  readonly scheduler: Scheduler<RunRecord>;
  readonly #opts: JobServiceOptions;

  constructor(opts: JobServiceOptions) {
    this.#opts = opts;
    const { store, log } = opts;
    this.scheduler = new Scheduler<RunRecord>({
      clock: opts.clock,
      run: (req) => this.#run(req),
      // Warmed early enough to be ready, late enough not to be reaped as idle before the run.
      warmLeadMs: Math.min(MAX_WARM_LEAD_MS, Math.floor(opts.idleTimeoutMs / 2)),
      warm: (name) => {
        opts.pools.warm(name).catch((err) => log.warn(`job ${name}: warm-up before its run failed: ${(err as Error).message}`));
      },
      lastScheduled: (name) => store.lastScheduled(name),
      onStart: (req) => {
        store.setLastScheduled(req.name, req.scheduledTime).catch((err) => log.error(`job ${req.name}: cannot save ${store.file}: ${(err as Error).message}`));
      },
      onSkip: (req, why) => {
        log.warn(`job ${req.name}: run due ${new Date(req.scheduledTime).toISOString()} skipped: ${why}`);
        void this.#record(req.name, { ...blankRun(req, Date.now()), outcome: "skipped", error: why });
      },
      onMissed: (name, missed, latest, more) =>
        log.info(`job ${name}: ${missed}${more ? " or more" : ""} run${missed === 1 ? "" : "s"} missed while the daemon was down; one catch-up run for ${new Date(latest).toISOString()}`),
    });
  }

  /** Follows a function's serving revision: its schedule (re)armed, or its job gone when it has none or was removed. */
  sync(name: string): void {
    const fc = this.#opts.pools.definition(name)?.config;
    if (fc?.schedule) this.scheduler.set({ name, schedule: new Schedule(fc.schedule, fc.timezone), overlap: fc.overlap ?? "forbid" });
    else this.scheduler.delete(name);
  }

  list(): JobInfo[] {
    return this.scheduler.names().sort().map((n) => this.info(n)!);
  }

  info(name: string): JobInfo | null {
    const spec = this.scheduler.spec(name);
    if (!spec) return null;
    const next = this.scheduler.nextRun(name);
    return {
      name,
      schedule: spec.schedule.cron,
      timezone: spec.schedule.timezone ?? null,
      overlap: spec.overlap,
      nextRun: next === null ? null : new Date(next).toISOString(),
      running: this.scheduler.running(name),
      lastRun: this.#opts.store.history(name).at(-1) ?? null,
    };
  }

  history(name: string): readonly RunRecord[] {
    return this.#opts.store.history(name);
  }

  /** Runs the job now; resolves with its record. FNRUN_JOB_NOT_FOUND, or FNRUN_JOB_BUSY under overlap "forbid". */
  runNow(name: string): Promise<RunRecord> {
    if (!this.scheduler.has(name)) {
      const deployed = this.#opts.pools.has(name);
      const message = deployed ? `function \`${name}\` has no schedule; add schedule = "CRON" to [functions.${name}] in config.toml` : `no job \`${name}\`: no function of that name is deployed`;
      throw Object.assign(new Error(message), { code: "FNRUN_JOB_NOT_FOUND", kind: "user" as const });
    }
    return this.scheduler.runNow(name);
  }

  close(): void {
    this.scheduler.close();
  }

  async #run(req: RunRequest): Promise<RunRecord> {
    const started = Date.now();
    const t0 = performance.now();
    const id = `job-${req.name}-${randomBytes(5).toString("hex")}`;
    const run = blankRun(req, started);
    run.id = id;
    let lease;
    try {
      lease = await this.#opts.pools.acquire(req.name);
    } catch (err) {
      return this.#finish(req, { ...run, outcome: "unavailable", error: (err as Error).message, durationMs: ms(t0) });
    }
    run.start = lease.kind;
    const def = this.#opts.pools.definition(req.name);
    const timeoutMs = def?.config.timeoutMs ?? 30_000;
    const logFile = def?.logFile;
    const offset = logFile ? await stat(logFile).then((s) => s.size, () => 0) : 0;
    let outcome: RunOutcome = "ok";
    let error: string | undefined;
    try {
      const res = await lease.instance.dispatcher.request({
        path: SCHEDULED_PATH,
        method: "POST",
        headers: { "content-type": "application/json", "x-fnrun-invocation-id": id, "x-fnrun-deadline": String(Date.now() + timeoutMs) },
        body: JSON.stringify({ cron: req.cron, scheduledTime: req.scheduledTime }),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        outcome = res.statusCode === 501 ? "no-handler" : res.headers["x-fnrun-error"] === "threw" ? "threw" : "crashed";
        error = messageIn(text) ?? `answered ${res.statusCode}`;
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      outcome = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" ? "timeout" : "crashed";
      error = outcome === "timeout" ? `scheduled() ran past the function's timeout (${timeoutMs} ms)` : `the instance failed during the run: ${(err as Error).message}`;
    }
    run.durationMs = ms(t0);
    // A timed-out or crashed instance is retired, as after a request.
    lease.release(outcome === "timeout" ? "timeout" : outcome === "crashed" ? "crashed" : "ok");
    if (logFile) {
      await new Promise((r) => setTimeout(r, LOG_SETTLE_MS));
      run.logs = await linesOf(logFile, offset, id);
    }
    return this.#finish(req, { ...run, outcome, error });
  }

  async #finish(req: RunRequest, run: RunRecord): Promise<RunRecord> {
    const { log } = this.#opts;
    const what = `job ${req.name} (${req.trigger}, due ${run.scheduledTime}): ${run.outcome} in ${run.durationMs} ms${run.start ? `, ${run.start} start` : ""}`;
    if (run.outcome === "ok") log.info(what, { id: run.id });
    else log.warn(`${what}: ${run.error ?? ""}`, { id: run.id });
    await this.#record(req.name, run);
    return run;
  }

  async #record(name: string, run: RunRecord): Promise<void> {
    await this.#opts.store.add(name, run).catch((err) => this.#opts.log.error(`job ${name}: cannot save ${this.#opts.store.file}: ${(err as Error).message}`));
  }
}

/**
 * Deploy-time check for a function with a schedule: its module must export scheduled().
 * The bootstrap's `GET /__fnrun/load` answer says whether it does.
 */
export async function verifyScheduledHandler(def: FunctionDefinition, instance: PooledInstance): Promise<void> {
  if (!def.config.schedule) return;
  const res = await instance.dispatcher.request({ path: LOAD_PATH, method: "GET", headersTimeout: 10_000, bodyTimeout: 10_000 });
  const state = (await res.body.json()) as { hasScheduled?: boolean };
  if (state.hasScheduled !== true) {
    throw Object.assign(
      new Error(`functions.${def.name}.schedule: the function exports no scheduled() handler; add \`async scheduled(event, env, ctx) {…}\` to its default export, or remove schedule from [functions.${def.name}]`),
      { code: "FNRUN_NO_SCHEDULED_HANDLER", kind: "user" as const },
    );
  }
}

function blankRun(req: RunRequest, started: number): RunRecord {
  return {
    id: "",
    trigger: req.trigger,
    scheduledTime: new Date(req.scheduledTime).toISOString(),
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    outcome: "ok",
    start: null,
    logs: [],
  };
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

function messageIn(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { message?: string }).message;
  } catch {
    return text.slice(0, 200) || undefined;
  }
}

/** The lines of `file` written since `offset` that carry invocation `id` (function-logs.ts writes ` inv=<id> `), bounded. */
async function linesOf(file: string, offset: number, id: string): Promise<string[]> {
  const size = await stat(file).then((s) => s.size, () => 0);
  const from = size < offset ? 0 : offset; // rotated meanwhile: the new file holds the rest
  const len = Math.min(size - from, MAX_LOG_READ);
  if (len <= 0) return [];
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, from);
    const mark = ` inv=${id} `;
    return buf
      .toString("utf8")
      .split("\n")
      .filter((l) => l.includes(mark))
      .slice(-RUN_LOG_LINES)
      .map((l) => (l.length > RUN_LOG_LINE_CHARS ? `${l.slice(0, RUN_LOG_LINE_CHARS)}…` : l));
  } finally {
    await fh.close();
  }
}
