/**
 * @module runtime/bootstrap/scheduled-once
 * One scheduled run from a function image, then exit: what a Kubernetes CronJob (or cron +
 * `docker run`) starts, with `FNRUN_RUN=scheduled` (or the bootstrap's first argument
 * `scheduled`). No listener. The exit code is the outcome:
 *
 *   0  scheduled() resolved (and what it passed to ctx.waitUntil settled)
 *   1  scheduled() threw or rejected (the error is printed)
 *   2  nothing could run: the bundle failed to import, or it exports no scheduled()
 *   130 / 143  stopped by SIGINT / SIGTERM before it finished
 *
 * The event is `{cron: $FNRUN_CRON or "", scheduledTime: now}`; there is no timeout of fnrun's
 * (a CronJob's activeDeadlineSeconds is the platform's). The process exits when the run ends,
 * also if the function left timers or sockets open.
 */
import { callScheduled, functionEnv, loadFunction, messageOf, type LoadedFunction } from "./function-module.ts";

export const EXIT_RESOLVED = 0;
export const EXIT_THREW = 1;
export const EXIT_NOT_RUNNABLE = 2;

export async function runScheduledOnce(entry: string | undefined): Promise<never> {
  for (const [sig, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    process.on(sig, () => {
      console.error(`fnrun: scheduled run stopped by ${sig} before it finished`);
      process.exit(code);
    });
  }
  if (!entry) return fail(EXIT_NOT_RUNNABLE, "fnrun: scheduled run: FNRUN_ENTRY is not set; run a function image, or set FNRUN_ENTRY to a bundle's path");
  let fn: LoadedFunction;
  try {
    fn = await loadFunction(entry);
  } catch (err) {
    console.error(`fnrun: function failed to initialize: ${entry}:`, err);
    return fail(EXIT_NOT_RUNNABLE, `fnrun: scheduled run: nothing ran: ${entry} failed to import (${messageOf(err)})`);
  }
  if (!fn.scheduled) return fail(EXIT_NOT_RUNNABLE, `fnrun: scheduled run: nothing ran: ${entry} exports no scheduled(event, env, ctx) handler; export one from the module's default object, or run the image without FNRUN_RUN to serve requests`);
  const event = { cron: process.env.FNRUN_CRON ?? "", scheduledTime: Date.now() };
  // Imported here, not at the top: every other mode of the bootstrap would pay its load (~4 ms of CPU).
  const invocationId = `${(await import("node:crypto")).randomBytes(4).toString("hex")}-1`;
  const t0 = performance.now();
  try {
    await callScheduled(fn.scheduled, event, functionEnv(), { invocationId });
  } catch (err) {
    console.error("fnrun: scheduled() threw:", err);
    return fail(EXIT_THREW, `fnrun: scheduled run failed after ${ms(t0)} ms (exit 1)`);
  }
  console.log(`fnrun: scheduled run resolved in ${ms(t0)} ms (exit 0)`);
  process.exit(EXIT_RESOLVED);
}

function fail(code: number, message: string): never {
  console.error(message);
  process.exit(code);
}

function ms(t0: number): string {
  return (performance.now() - t0).toFixed(1);
}
