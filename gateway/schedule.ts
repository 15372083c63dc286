/**
 * @module gateway/schedule
 * Cron schedules of functions: parsing and validation (croner does the cron grammar), and
 * the run times of a schedule in its time zone, with fnrun's DST rule on top of croner's.
 *
 * ## The DST rule: a job runs once for each wall-clock time that exists
 *
 * - Spring forward: a time inside the gap (02:30 in Europe/Berlin on the last Sunday of March)
 *   does not exist that day, so nothing runs for it. croner would run a fixed-time job at the
 *   first time after the gap (03:00); we drop that run (croner's `match()` says its wall clock
 *   is not the pattern's).
 * - Fall back: a time that occurs twice (02:30 on the last Sunday of October) runs once, at
 *   its first occurrence. croner already does this for fixed-time jobs but runs interval jobs
 *   (`*\/30 * * * *`) on both occurrences; we drop the second.
 *
 * A 6th, leading seconds field is accepted (croner's "5-or-6-parts"): meant for tests and
 * demos; production schedules use 5 fields.
 */
import { Cron } from "croner";
import { describe as show } from "./units.ts";

export type OverlapPolicy = "forbid" | "allow";

export const ALIASES = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"] as const;

export interface ScheduleSettings {
  schedule?: string;
  timezone?: string;
  overlap?: OverlapPolicy;
}

/** A problem with one key of a function's table: `key` is relative to it ("schedule"). */
export interface ScheduleProblem {
  key: "schedule" | "timezone" | "overlap";
  message: string;
}

/**
 * Validates the schedule keys of one function's table. Returns the normalized values plus
 * the errors and warnings, each naming its key; config.ts prefixes `functions.NAME.`.
 */
export function checkSchedule(raw: { schedule?: unknown; timezone?: unknown; overlap?: unknown }): { values: ScheduleSettings; errors: ScheduleProblem[]; warnings: ScheduleProblem[] } {
  const values: ScheduleSettings = {};
  const errors: ScheduleProblem[] = [];
  const warnings: ScheduleProblem[] = [];
  let tzOk = true;
  if (raw.timezone !== undefined) {
    const why = timezoneProblem(raw.timezone);
    if (why) {
      errors.push({ key: "timezone", message: why });
      tzOk = false;
    } else values.timezone = raw.timezone as string;
  }
  if (raw.schedule !== undefined) {
    const why = scheduleProblem(raw.schedule, tzOk ? values.timezone : undefined);
    if (why) errors.push({ key: "schedule", message: why });
    else values.schedule = (raw.schedule as string).trim();
  }
  if (raw.overlap !== undefined) {
    if (raw.overlap === "forbid" || raw.overlap === "allow") values.overlap = raw.overlap;
    else errors.push({ key: "overlap", message: `expected "forbid" (a run is skipped while the previous one still runs) or "allow", got ${show(raw.overlap)}` });
  }
  if (raw.schedule === undefined) {
    if (raw.timezone !== undefined) warnings.push({ key: "timezone", message: "has no effect without schedule" });
    if (raw.overlap !== undefined) warnings.push({ key: "overlap", message: "has no effect without schedule" });
  }
  return { values, errors, warnings };
}

/** Why `tz` is not an IANA time zone name, or null. */
export function timezoneProblem(tz: unknown): string | null {
  if (typeof tz !== "string" || tz === "") return `expected an IANA time zone like "Europe/Berlin" or "UTC", got ${show(tz)}`;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return null;
  } catch {
    return `unknown time zone ${show(tz)}; expected an IANA name like "Europe/Berlin", "America/New_York" or "UTC"`;
  }
}

/** Why `expr` is not a usable cron expression, or null. A schedule that never fires is refused. */
export function scheduleProblem(expr: unknown, timezone?: string): string | null {
  const example = `expected a cron expression of 5 fields like "0 3 * * *" (minute hour day-of-month month day-of-week) or one of ${ALIASES.join(" ")}`;
  if (typeof expr !== "string" || expr.trim() === "") return `${example}, got ${show(expr)}`;
  let cron: Cron;
  try {
    cron = makeCron(expr, timezone);
  } catch (err) {
    const reason = (err as Error).message.replace(/^CronPattern: /, "");
    return `${example}, got ${show(expr)}: ${reason}`;
  }
  if (new Schedule(expr, timezone, cron).next(Date.now()) === null) {
    return `${show(expr)} never fires (no date matches it, like February 30th); check the day-of-month and month fields`;
  }
  return null;
}

function makeCron(expr: string, timezone?: string): Cron {
  // domAndDow false: a day-of-month and a day-of-week both given mean "either" (Vixie cron, POSIX).
  return new Cron(expr.trim(), { timezone, paused: true, mode: "5-or-6-parts", domAndDow: false });
}

/** One parsed schedule: its run times after an instant, under the DST rule above. */
export class Schedule {
  readonly cron: string;
  readonly timezone: string | undefined;
  readonly #cron: Cron;

  /** Throws croner's error for a bad expression or time zone (config load has refused those already). */
  constructor(cron: string, timezone?: string, parsed?: Cron) {
    this.cron = cron.trim();
    this.timezone = timezone;
    this.#cron = parsed ?? makeCron(cron, timezone);
  }

  /** The first run time strictly after `from` (epoch ms), or null when there is none. */
  next(from: number): number | null {
    let t = from;
    // Bounded: a skipped candidate is a DST edge, a few in a row at most.
    for (let i = 0; i < 1000; i++) {
      const d = this.#cron.nextRun(new Date(t));
      if (!d) return null;
      const at = d.getTime();
      if (this.#exists(at)) return at;
      t = at;
    }
    return null;
  }

  /** The next `n` run times after `from`. */
  nextRuns(n: number, from: number): number[] {
    const out: number[] = [];
    let t = from;
    while (out.length < n) {
      const at = this.next(t);
      if (at === null) break;
      out.push(at);
      t = at;
    }
    return out;
  }

  /**
   * Whether a candidate of croner's is a run under the DST rule: its wall clock matches the
   * pattern (not shifted out of a spring-forward gap) and it is the first occurrence of that
   * wall-clock time (not the repeat after a fall back).
   */
  #exists(at: number): boolean {
    if (!this.#cron.match(new Date(at))) return false;
    const tz = this.timezone;
    if (!tz) return true; // croner's default zone is the host's; UTC-like hosts have no DST
    const wall = wallClock(at, tz);
    // The clock went back at most a few hours before `at`: the same wall time earlier means a repeat.
    const offsetNow = offsetMs(at, tz);
    if (offsetMs(at - 3 * 3_600_000, tz) <= offsetNow) return true; // no fall back in the last 3 hours (the common case)
    for (const back of [3, 2, 1]) {
      const shift = offsetMs(at - back * 3_600_000, tz) - offsetNow;
      if (shift > 0 && wallClock(at - shift, tz) === wall) return false;
    }
    return true;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall-clock reading of `at` in `tz`, as a comparable string. */
export function wallClock(at: number, tz: string): string {
  return formatter(tz).format(new Date(at));
}

/** The UTC offset of `tz` at `at`, in ms (east positive). */
function offsetMs(at: number, tz: string): number {
  const parts = Object.fromEntries(formatter(tz).formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return asUtc - Math.floor(at / 1000) * 1000;
}
