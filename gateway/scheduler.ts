/**
 * @module gateway/scheduler
 * When scheduled jobs run: one timer per job, armed for its next run time, plus a warm-up
 * timer a little before it. Knows nothing of containers or files: the clock is injected (tests
 * drive a fake one through DST changes and downtime in microseconds), and what a run does,
 * how a warm-up is done and where the last run time is kept are callbacks.
 *
 * Rules:
 * - Overlap "forbid" (the default): a run that comes due while the job's previous run is still
 *   going is skipped (and reported through onSkip); "allow" starts it anyway.
 * - Downtime: when a job is first added, a run missed since its last run (the daemon was down)
 *   is made up by ONE catch-up run, for the latest missed time; the others are not replayed.
 *   A timer that fires late (host suspended) likewise runs once and re-arms from now.
 */
import type { OverlapPolicy, Schedule } from "./schedule.ts";

/** The time source and timers; `systemClock` in the daemon, a fake one in tests. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

/** setTimeout takes at most 2^31-1 ms (~24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    t.unref(); // timers never keep the daemon alive on their own
    return { cancel: () => clearTimeout(t) };
  },
};

export interface JobSpec {
  name: string;
  schedule: Schedule;
  overlap: OverlapPolicy;
}

/** Why a run happens: its time came, it makes up for downtime, or someone asked for it. */
export type Trigger = "schedule" | "catch-up" | "manual";

export interface RunRequest {
  name: string;
  cron: string;
  /** The time the run was due (epoch ms); for a manual run, when it was asked for. */
  scheduledTime: number;
  trigger: Trigger;
}

export interface SchedulerOptions<R> {
  clock?: Clock;
  /** Does one run; resolves with its record when it is over. Must not reject. */
  run: (req: RunRequest) => Promise<R>;
  /** Asked `warmLeadMs` before a run is due to have an instance ready (fire and forget). */
  warm?: (name: string) => void;
  warmLeadMs?: number;
  /** The due time of a job's last scheduled run, kept by an earlier daemon; undefined when it never ran. */
  lastScheduled?: (name: string) => number | undefined;
  /** A scheduled (not manual) run is starting: the place to persist its due time. */
  onStart?: (req: RunRequest) => void;
  /** A run was not started because the previous one still runs (overlap "forbid"). */
  onSkip?: (req: RunRequest, why: string) => void;
  /** Catch-up: missed runs were found; how many (`more`: at least that many) and the latest. */
  onMissed?: (name: string, missed: number, latest: number, more: boolean) => void;
}

interface Job {
  spec: JobSpec;
  due: number | null;
  timer: { cancel(): void } | null;
  warmTimer: { cancel(): void } | null;
}

export class JobBusyError extends Error {
  override name = "JobBusyError";
  readonly code = "FNRUN_JOB_BUSY";
  readonly kind = "user";
  constructor(job: string) {
    super(`run job \`${job}\`: refused, its previous run is still running (overlap = "forbid"); wait for it, or set overlap = "allow"`);
  }
}

export class Scheduler<R = unknown> {
  readonly #opts: SchedulerOptions<R>;
  readonly #clock: Clock;
  readonly #jobs = new Map<string, Job>();
  /** Runs in flight per job: outlives a job's replacement (a redeploy does not end a run). */
  readonly #running = new Map<string, number>();
  /** The last due time fired per job, so a re-armed job never fires the same time twice. */
  readonly #lastFired = new Map<string, number>();
  /** Jobs this scheduler has seen: only the first set() of a job looks for missed runs. */
  readonly #seen = new Set<string>();
  #closed = false;

  constructor(opts: SchedulerOptions<R>) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Adds a job or replaces its schedule (a redeploy); the first time, makes up one missed run. */
  set(spec: JobSpec): void {
    if (this.#closed) return;
    this.#disarm(spec.name);
    const job: Job = { spec, due: null, timer: null, warmTimer: null };
    this.#jobs.set(spec.name, job);
    const now = this.#clock.now();
    if (!this.#seen.has(spec.name)) {
      this.#seen.add(spec.name);
      const last = this.#opts.lastScheduled?.(spec.name);
      if (last !== undefined) {
        const missed = latestMissed(spec.schedule, last, now);
        if (missed) {
          this.#opts.onMissed?.(spec.name, missed.count, missed.latest, missed.more);
          this.#lastFired.set(spec.name, missed.latest);
          this.#start(job, { name: spec.name, cron: spec.schedule.cron, scheduledTime: missed.latest, trigger: "catch-up" });
        }
      }
    }
    this.#arm(job, now);
  }

  delete(name: string): boolean {
    this.#disarm(name);
    return this.#jobs.delete(name);
  }

  has(name: string): boolean {
    return this.#jobs.has(name);
  }

  names(): string[] {
    return [...this.#jobs.keys()];
  }

  /** When the job runs next (epoch ms), or null. */
  nextRun(name: string): number | null {
    return this.#jobs.get(name)?.due ?? null;
  }

  running(name: string): number {
    return this.#running.get(name) ?? 0;
  }

  spec(name: string): JobSpec | undefined {
    return this.#jobs.get(name)?.spec;
  }

  /** Runs the job now, outside its schedule; JobBusyError under "forbid" while a run is going. */
  runNow(name: string): Promise<R> {
    const job = this.#jobs.get(name);
    if (!job) throw new Error(`run job \`${name}\`: no such job`);
    const run = this.#start(job, { name, cron: job.spec.schedule.cron, scheduledTime: this.#clock.now(), trigger: "manual" });
    if (!run) throw new JobBusyError(name);
    return run;
  }

  /** Stops every timer; runs in flight finish on their own. */
  close(): void {
    this.#closed = true;
    for (const name of this.#jobs.keys()) this.#disarm(name);
    this.#jobs.clear();
  }

  /** Sets the timers for the job's first run after `from` (and after the last time fired). */
  #arm(job: Job, from: number): void {
    const after = Math.max(from, this.#lastFired.get(job.spec.name) ?? -Infinity);
    job.due = job.spec.schedule.next(after);
    if (job.due === null) return;
    const due = job.due;
    const now = this.#clock.now();
    const lead = this.#opts.warmLeadMs ?? 0;
    if (this.#opts.warm && lead > 0) {
      const warm = () => {
        job.warmTimer = null;
        if (this.#jobs.get(job.spec.name) === job && job.due === due) this.#opts.warm!(job.spec.name);
      };
      if (due - lead <= now) warm();
      else job.warmTimer = this.#clock.setTimer(warm, due - lead - now);
    }
    const wake = () => {
      job.timer = null;
      if (this.#jobs.get(job.spec.name) !== job || job.due !== due) return;
      const t = this.#clock.now();
      // Woken early (a chained long wait, or a coarse timer): sleep the rest.
      if (t < due) {
        job.timer = this.#clock.setTimer(wake, due - t);
        return;
      }
      this.#lastFired.set(job.spec.name, due);
      // From now, not from `due`: a timer that woke late (suspend) runs once, not once per missed time.
      this.#arm(job, Math.max(due, t));
      this.#start(job, { name: job.spec.name, cron: job.spec.schedule.cron, scheduledTime: due, trigger: "schedule" });
    };
    job.timer = this.#clock.setTimer(wake, due - now);
  }

  /** Starts a run unless overlap forbids it; null when skipped. */
  #start(job: Job, req: RunRequest): Promise<R> | null {
    const name = job.spec.name;
    if (job.spec.overlap === "forbid" && this.running(name) > 0) {
      if (req.trigger !== "manual") this.#opts.onSkip?.(req, "the previous run is still running (overlap = \"forbid\")");
      return null;
    }
    this.#running.set(name, this.running(name) + 1);
    if (req.trigger !== "manual") this.#opts.onStart?.(req);
    return this.#opts.run(req).finally(() => {
      const n = this.running(name) - 1;
      if (n > 0) this.#running.set(name, n);
      else this.#running.delete(name);
    });
  }

  #disarm(name: string): void {
    const job = this.#jobs.get(name);
    if (!job) return;
    job.timer?.cancel();
    job.warmTimer?.cancel();
    job.timer = job.warmTimer = null;
    job.due = null;
  }
}

/**
 * The latest run time in (last, now] and how many there were, or null when none was missed.
 * Past 1000 missed times (a seconds schedule down for a day) it stops counting (`more`) and
 * looks for the latest one near now instead of walking them all: that is all a catch-up needs.
 */
export function latestMissed(schedule: Schedule, last: number, now: number): { latest: number; count: number; more: boolean } | null {
  let t = schedule.next(last);
  if (t === null || t > now) return null;
  let count = 1;
  for (let i = 0; i < 1000; i++) {
    const n = schedule.next(t);
    if (n === null || n > now) return { latest: t, count, more: false };
    t = n;
    count++;
  }
  for (const back of [60_000, 3_600_000, 86_400_000, 32 * 86_400_000, 367 * 86_400_000]) {
    let near = schedule.next(Math.max(t, now - back));
    if (near === null || near > now) continue;
    for (let i = 0; i < 2000; i++) {
      const n = schedule.next(near);
      if (n === null || n > now) return { latest: near, count, more: true };
      near = n;
    }
  }
  return { latest: t, count, more: true };
}
