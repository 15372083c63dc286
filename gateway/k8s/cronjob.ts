/**
 * @module gateway/k8s/cronjob
 * A scheduled function as a CronJob (batch/v1): each run is a pod of the function's image
 * with FNRUN_RUN=scheduled, which calls scheduled() once and exits 0 only when it resolved.
 *
 * - `timeZone` from `timezone`, or the daemon's own zone when unset: fnrun reads a schedule
 *   without a zone in the host's zone, a CronJob in the controller's (usually UTC).
 * - `concurrencyPolicy` Forbid/Allow from `overlap` (a skipped run is not recorded by Kubernetes).
 * - No retries (backoffLimit 0, restartPolicy Never): fnrun does not retry a failed run either.
 * - activeDeadlineSeconds = timeout + 60 s: fnrun's timeout bounds scheduled() in a warm
 *   instance; a Job's clock also runs while the pod is scheduled, pulled and started.
 * - Missed runs: the CronJob controller starts only the latest missed one, as fnrun's catch-up.
 *
 * Kubernetes parses schedules with robfig/cron's standard parser: 5 fields, names, ranges,
 * steps and @hourly … @yearly. fnrun's 6-field (seconds) schedules and croner's L, W and #
 * cannot be expressed, and are errors that name the function.
 */
import type { ICronJob } from "kubernetes-models/batch/v1/CronJob";
import { labels, objectName } from "./naming.ts";
import { functionContainer, functionEnv, functionPod, type ExportedFunction, type PodOptions } from "./pod.ts";
import { seconds } from "./quantities.ts";

/** Time for a Job's pod to be scheduled, pulled and started before scheduled() begins. */
const START_ALLOWANCE_SECONDS = 60;
const DESCRIPTORS = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);
const MONTHS = /jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec/g;
const DAYS = /sun|mon|tue|wed|thu|fri|sat/g;

/** Why `schedule` cannot be a CronJob's schedule, or null. */
export function cronJobScheduleProblem(schedule: string): string | null {
  const expr = schedule.trim();
  if (expr.startsWith("@")) return DESCRIPTORS.has(expr.toLowerCase()) ? null : `${JSON.stringify(expr)} is not one of ${[...DESCRIPTORS].join(" ")}`;
  const fields = expr.split(/\s+/);
  if (fields.length === 6) {
    return `${JSON.stringify(expr)} has a seconds field; a Kubernetes CronJob runs at most once a minute: write it with 5 fields (minute hour day-of-month month day-of-week)`;
  }
  if (fields.length !== 5) return `${JSON.stringify(expr)}: expected 5 fields (minute hour day-of-month month day-of-week)`;
  for (const [i, raw] of fields.entries()) {
    let f = raw.toLowerCase();
    if (i === 3) f = f.replace(MONTHS, "1");
    if (i === 4) f = f.replace(DAYS, "1");
    if (!/^[0-9*?,/-]+$/.test(f)) {
      return `${JSON.stringify(expr)}: field ${JSON.stringify(raw)} uses syntax a Kubernetes CronJob does not know (croner's L, W and # have no equivalent); use plain numbers, names, ranges, lists and steps`;
    }
    if (i === 4 && (f.match(/\d+/g) ?? []).some((n) => Number(n) > 6)) {
      return `${JSON.stringify(expr)}: day-of-week ${JSON.stringify(raw)} uses 7 for Sunday; a Kubernetes CronJob knows 0-6 only, so write Sunday as 0 (or SUN)`;
    }
  }
  return null;
}

export interface CronJobOptions extends PodOptions {
  namespace?: string;
  /** The zone a schedule without `timezone` runs in under fnrun: the daemon host's. */
  defaultTimezone: string;
}

/** The CronJob of a scheduled function (`config.schedule` must be set and pass cronJobScheduleProblem). */
export function cronJob(fn: ExportedFunction, opts: CronJobOptions): ICronJob {
  const { config } = fn;
  const schedule = config.schedule!.trim();
  const container = functionContainer(fn, functionEnv(fn, [{ name: "FNRUN_RUN", value: "scheduled" }, { name: "FNRUN_CRON", value: schedule }]), {});
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: objectName(config.name), ...(opts.namespace ? { namespace: opts.namespace } : {}), labels: labels(config.name, "scheduled") },
    spec: {
      schedule,
      timeZone: config.timezone ?? opts.defaultTimezone,
      concurrencyPolicy: config.overlap === "allow" ? "Allow" : "Forbid",
      jobTemplate: {
        metadata: { labels: labels(config.name, "scheduled") },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: seconds(config.timeoutMs) + START_ALLOWANCE_SECONDS,
          template: {
            metadata: { labels: labels(config.name, "scheduled", fn.revision) },
            spec: functionPod(fn, container, opts, { restartPolicy: "Never" }),
          },
        },
      },
    },
  };
}
