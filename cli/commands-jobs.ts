/**
 * @module cli/commands-jobs
 * `fnrun jobs` (scheduled jobs with their last and next run), `fnrun jobs run NAME` (one run
 * now, waits for it) and `fnrun jobs show NAME` (a job's run history). Control API only.
 */
import { withClient, type Command } from "./command-kit.ts";
import { CliError } from "./client.ts";
import type { CommandContext } from "./commands.ts";
import { formatTable } from "./table.ts";
import type { RunRecord } from "../gateway/job-store.ts";
import type { JobInfo as ApiJobInfo } from "../gateway/jobs.ts";

export const JOBS_USAGE = "Usage: fnrun jobs [run NAME | show NAME] [--config PATH] [--json]";

/** A job as `GET /v1/jobs/:name` shows it: with its run history. */
type JobInfo = ApiJobInfo & { history?: RunRecord[] };


function failIfError(status: number, body: unknown): void {
  if (status >= 400 && !(body as Partial<RunRecord>)?.outcome) throw new CliError((body as { message?: string })?.message ?? `daemon answered ${status}`);
}

/** "2026-11-28 03:00:00Z (in 4m)": absolute and relative, readable at a glance. */
function when(iso: string | null, now = Date.now()): string {
  if (!iso) return "-";
  const t = Date.parse(iso);
  const future = t > now;
  const abs = Math.round(Math.abs(t - now) / 1000);
  const rel = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.round(abs / 60)}m` : abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return `${iso.replace("T", " ").replace(/\.\d+Z$/, "Z")} (${future ? `in ${rel}` : `${rel} ago`})`;
}

function describeRun(r: RunRecord): string {
  return `${r.outcome}${r.outcome === "ok" || r.outcome === "skipped" ? "" : `: ${r.error ?? ""}`} (${r.trigger}, ${r.durationMs} ms${r.start ? `, ${r.start} start` : ""})`;
}

const list = (ctx: CommandContext) =>
  withClient(ctx, async (client) => {
    const { status, body } = await client.json<JobInfo[]>("GET", "/v1/jobs");
    failIfError(status, body);
    if (ctx.json) {
      ctx.out(JSON.stringify(body, null, 2) + "\n");
      return 0;
    }
    if (body.length === 0) {
      ctx.out('no scheduled jobs; give a function schedule = "CRON" in config.toml\n');
      return 0;
    }
    const rows = body.map((j) => [
      j.name,
      j.schedule + (j.timezone ? ` (${j.timezone})` : ""),
      j.lastRun ? `${when(j.lastRun.startedAt)} ${j.lastRun.outcome}` : "-",
      j.running > 0 ? "running" : when(j.nextRun),
    ]);
    ctx.out(formatTable(["JOB", "SCHEDULE", "LAST RUN", "NEXT RUN"], rows));
    return 0;
  });

const runNow = (ctx: CommandContext, name: string) =>
  withClient(ctx, async (client) => {
    const { status, body } = await client.json<RunRecord>("POST", `/v1/jobs/${encodeURIComponent(name)}/run`);
    failIfError(status, body);
    if (ctx.json) ctx.out(JSON.stringify(body, null, 2) + "\n");
    else {
      ctx.out(`ran ${name}: ${describeRun(body)}\n`);
      for (const l of body.logs) ctx.out(`  ${l}\n`);
    }
    return body.outcome === "ok" ? 0 : 1;
  });

const show = (ctx: CommandContext, name: string) =>
  withClient(ctx, async (client) => {
    const { status, body } = await client.json<JobInfo>("GET", `/v1/jobs/${encodeURIComponent(name)}`);
    failIfError(status, body);
    if (ctx.json) {
      ctx.out(JSON.stringify(body, null, 2) + "\n");
      return 0;
    }
    ctx.out(`${body.name}: ${body.schedule}${body.timezone ? ` (${body.timezone})` : ""}, overlap ${body.overlap}, next run ${when(body.nextRun)}\n`);
    const rows = (body.history ?? []).map((r) => [r.startedAt, r.trigger, r.outcome, `${r.durationMs} ms`, r.start ?? "-", String(r.logs.length)]);
    ctx.out(rows.length ? formatTable(["STARTED", "TRIGGER", "OUTCOME", "DURATION", "START", "LOG LINES"], rows) : "no runs yet\n");
    return 0;
  });

export const jobs: Command = async (ctx) => {
  const [sub, name, ...extra] = ctx.positionals;
  if (sub === undefined) return list(ctx);
  if ((sub === "run" || sub === "show") && name && extra.length === 0) return sub === "run" ? runNow(ctx, name) : show(ctx, name);
  throw new CliError(`${sub === "run" || sub === "show" ? `jobs ${sub}: expected one NAME` : `unknown jobs subcommand \`${sub}\``}\n\n${JOBS_USAGE}`, 2);
};
