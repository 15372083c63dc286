/**
 * @module gateway/job-store
 * <state>/jobs.json: per job, the due time of its last scheduled run (so a restarted daemon
 * makes up at most one missed run, not all of them) and its recent runs, newest last, at most
 * HISTORY_LIMIT. Written atomically (temp file + rename) and one write at a time, so a crash
 * leaves the previous file or the new one, never half of one.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { StartKind } from "../runtime/function-pool.ts";
import type { Trigger } from "./scheduler.ts";

export const HISTORY_LIMIT = 50;
/** Log lines kept per run, and the length of each: the history is a summary, the log file has all. */
export const RUN_LOG_LINES = 50;
export const RUN_LOG_LINE_CHARS = 500;

/** How a run ended: "ok" (scheduled() resolved), "threw", "no-handler", "timeout", "crashed", "unavailable" (no instance), "skipped" (overlap). */
export type RunOutcome = "ok" | "threw" | "no-handler" | "timeout" | "crashed" | "unavailable" | "skipped";

export interface RunRecord {
  id: string;
  trigger: Trigger;
  /** When the run was due (ISO). */
  scheduledTime: string;
  /** When it started and how long it took (ms). */
  startedAt: string;
  durationMs: number;
  outcome: RunOutcome;
  /** How its instance was had: warm (idle, ready), stem (specialized stem cell), cold; null without one. */
  start: StartKind | null;
  error?: string;
  /** What the run's instance wrote to the function's log while it ran (bounded). */
  logs: string[];
}

interface JobState {
  lastScheduled?: number;
  history: RunRecord[];
}

export class JobStore {
  readonly file: string;
  #jobs = new Map<string, JobState>();
  #writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = join(stateDir, "jobs.json");
  }

  /** Reads jobs.json; a missing file is an empty store, an unreadable one is reported and replaced. */
  async load(onError?: (err: Error) => void): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") onError?.(err as Error);
      return;
    }
    try {
      const data = JSON.parse(text) as { jobs?: Record<string, JobState> };
      for (const [name, s] of Object.entries(data.jobs ?? {})) {
        this.#jobs.set(name, { lastScheduled: typeof s.lastScheduled === "number" ? s.lastScheduled : undefined, history: Array.isArray(s.history) ? s.history.slice(-HISTORY_LIMIT) : [] });
      }
    } catch (err) {
      onError?.(new Error(`${this.file}: not valid JSON (${(err as Error).message}); starting with no job history`));
    }
  }

  lastScheduled(name: string): number | undefined {
    return this.#jobs.get(name)?.lastScheduled;
  }

  history(name: string): readonly RunRecord[] {
    return this.#jobs.get(name)?.history ?? [];
  }

  setLastScheduled(name: string, at: number): Promise<void> {
    this.#state(name).lastScheduled = at;
    return this.#save();
  }

  add(name: string, run: RunRecord): Promise<void> {
    const h = this.#state(name).history;
    h.push(run);
    if (h.length > HISTORY_LIMIT) h.splice(0, h.length - HISTORY_LIMIT);
    return this.#save();
  }

  #state(name: string): JobState {
    let s = this.#jobs.get(name);
    if (!s) this.#jobs.set(name, (s = { history: [] }));
    return s;
  }

  /** Queued behind the previous write; each write takes the state as it is when it runs. */
  #save(): Promise<void> {
    const next = this.#writing.then(async () => {
      const tmp = `${this.file}.${process.pid}.tmp`;
      await mkdir(dirname(this.file), { recursive: true });
      await writeFile(tmp, JSON.stringify({ version: 1, jobs: Object.fromEntries(this.#jobs) }, null, 1), { mode: 0o600 });
      await rename(tmp, this.file);
    });
    this.#writing = next.catch(() => {});
    return next;
  }
}
