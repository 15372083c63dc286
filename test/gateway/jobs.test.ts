/**
 * Scheduled jobs on the real daemon (`fnrun up` as a child, real runc containers): a
 * seconds schedule runs the function's scheduled() on time, warm (the pool is warmed before
 * each run although idle_timeout reaps instances between runs), `fnrun jobs` shows last and
 * next run, `fnrun jobs run NAME` runs one now, a thrown run and a missing handler are
 * reported, /__fnrun/ is refused on the public listener, and a restart makes up a missed run
 * with exactly one catch-up run.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { request } from "undici";
import { control, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { leftovers } from "../helpers/leftovers.ts";

const FIX = join(ROOT, "test/fixtures/jobs");
/** Runs every 5 s. idle_timeout 2 s: the instance of a run is reaped before the next one, so only the warm-up (1 s ahead) can make the next run warm. */
const TICK = "*/5 * * * * *";

const CONFIG = `
[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 1
idle_timeout = "2s"

[defaults]
memory = "64MiB"

[functions.tick]
dir = "${FIX}/tick"
schedule = "${TICK}"
timezone = "Europe/Berlin"
env = { STAGE = "e2e" }

[functions.boom]
dir = "${FIX}/boom"
schedule = "@yearly"

[functions.cronly]
dir = "${FIX}/cronly"
schedule = "0 3 * * *"

[functions.fetchonly]
dir = "${FIX}/fetchonly"
schedule = "@hourly"
`;

interface Run { id: string; trigger: string; outcome: string; start: string | null; scheduledTime: string; startedAt: string; durationMs: number; logs: string[]; error?: string }
interface Job { name: string; schedule: string; timezone: string | null; overlap: string; nextRun: string | null; lastRun: Run | null; history?: Run[] }

describe("scheduled jobs on a real daemon", { timeout: 300_000 }, () => {
  let d: DaemonProcess | undefined;
  const seen: string[] = [];
  after(async () => {
    if (d) {
      const running = (await leftovers(d.stateDir)).containers;
      seen.push(...running);
      await d.stop("SIGTERM");
      assert.deepEqual(await leftovers(d.stateDir, seen), { containers: [], instanceDirs: [], cgroups: [], mounts: [] });
    }
  });

  test("a function with a schedule but no scheduled() fails its deploy with the key named; the others serve", async () => {
    d = await startDaemonProcess(CONFIG);
    assert.match(d.log(), /deploy fetchonly failed: functions\.fetchonly\.schedule: the function exports no scheduled\(\) handler/);
    const jobs = await control<Job[]>(d, "GET", "/v1/jobs");
    assert.deepEqual(jobs.map((j) => j.name), ["boom", "cronly", "tick"]);
    const tick = jobs.find((j) => j.name === "tick")!;
    assert.deepEqual([tick.schedule, tick.timezone, tick.overlap], [TICK, "Europe/Berlin", "forbid"]);
    // The CLI deploy of the same folder says the same, exit code 1.
    const r = await d.cli(["deploy", join(FIX, "fetchonly")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fnrun: deploy fetchonly: functions\.fetchonly\.schedule: the function exports no scheduled\(\) handler; add `async scheduled\(event, env, ctx\) \{…\}` to its default export/);
  });

  test("runs on schedule, in the warm pool: report how many runs found a warm instance", async (t) => {
    const runs = await until("6 scheduled runs of tick", async () => {
      const job = await control<Job>(d!, "GET", "/v1/jobs/tick");
      const scheduled = (job.history ?? []).filter((r) => r.trigger === "schedule");
      return scheduled.length >= 6 ? scheduled : null;
    }, 60_000);
    for (const r of runs) {
      assert.equal(r.outcome, "ok", JSON.stringify(r));
      assert.equal(new Date(r.scheduledTime).getUTCSeconds() % 5, 0, `due on a multiple of 5 s: ${r.scheduledTime}`);
      const late = Date.parse(r.startedAt) - Date.parse(r.scheduledTime);
      assert.ok(late >= 0 && late < 1000, `started ${late} ms after it was due`);
      assert.ok(r.logs.some((l) => l.includes(`tick-run cron=${TICK} scheduledTime=${r.scheduledTime} stage=e2e`)), `the run's own log lines: ${r.logs.join(" | ")}`);
      assert.ok(r.logs.some((l) => l.includes("tick-run waitUntil done")), "waitUntil work finished inside the run");
    }
    // The instance that served each run (second field of its log lines): reaped between runs, so they differ.
    const instances = runs.map((r) => r.logs[0]?.split(" ")[1]);
    const warm = runs.filter((r) => r.start === "warm").length;
    t.diagnostic(`warm starts: ${warm} of ${runs.length} scheduled runs; kinds: ${runs.map((r) => r.start).join(",")}; distinct instances: ${new Set(instances).size}; durations ms: ${runs.map((r) => r.durationMs).join(",")}`);
    assert.ok(new Set(instances).size >= 2, `instances were reaped between runs (idle_timeout 2s): ${instances.join(",")}`);
    assert.ok(warm >= runs.length - 1, `at least ${runs.length - 1} of ${runs.length} runs warm, got ${warm}`);
    // The side effect, in the function's own log file.
    const log = await readFile(join(d!.stateDir, "logs", "tick.log"), "utf8");
    assert.ok((log.match(/tick-run cron=/g) ?? []).length >= 6);
  });

  test("`fnrun jobs` lists every job with its last and next run", async () => {
    const r = await d!.cli(["jobs"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^JOB\s+SCHEDULE\s+LAST RUN\s+NEXT RUN$/);
    const tick = lines.find((l) => l.startsWith("tick "))!;
    assert.match(tick, new RegExp(`^tick\\s+\\*/5 \\* \\* \\* \\* \\* \\(Europe/Berlin\\)\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ \\(\\d+s ago\\) ok\\s+(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ \\(in \\d+s\\)|running)$`));
    assert.match(lines.find((l) => l.startsWith("boom "))!, /^boom\s+@yearly\s+-\s+\d{4}-01-01 00:00:00Z \(in \d+d\)$/);
    const json = JSON.parse((await d!.cli(["jobs", "--json"])).stdout) as Job[];
    assert.equal(json.find((j) => j.name === "tick")!.lastRun!.outcome, "ok");
    assert.ok(Date.parse(json.find((j) => j.name === "cronly")!.nextRun!) > Date.now());
  });

  test("`fnrun jobs run NAME` runs it now and prints the outcome and its log lines", async () => {
    const r = await d!.cli(["jobs", "run", "cronly"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ran cronly: ok \(manual, [\d.]+ ms, (warm|stem|cold) start\)\n  \S+ \S+ stdout inv=job-cronly-[0-9a-f]+ cronly-run\n$/);
    const job = await control<Job>(d!, "GET", "/v1/jobs/cronly");
    assert.equal(job.history!.at(-1)!.trigger, "manual");
    // A cron-only function answers HTTP with a 404 that says why.
    const res = await request(`${d!.url}/cronly`);
    assert.equal(res.statusCode, 404);
    assert.match(await res.body.text(), /exports only scheduled\(\)/);
  });

  test("a run that throws: exit code 1, outcome threw, the message and the log", async () => {
    const r = await d!.cli(["jobs", "run", "boom"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^ran boom: threw: report bucket unreachable \(manual, /);
    assert.match(r.stdout, /boom-run starting/);
    assert.match(r.stdout, /fnrun: scheduled\(\) threw: Error: report bucket unreachable/);
    const unknown = await d!.cli(["jobs", "run", "nosuch"]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, "fnrun: no job `nosuch`: no function of that name is deployed\n");
    const usage = await d!.cli(["jobs", "rerun"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown jobs subcommand `rerun`/);
  });

  test("the public gateway refuses /__fnrun/ paths: a client can never trigger a run", async () => {
    for (const path of ["/__fnrun/scheduled", "/__fnrun/load", "/__fnrun"]) {
      const res = await request(`${d!.url}${path}`, { method: "POST", body: JSON.stringify({ cron: "x", scheduledTime: 0 }) });
      assert.equal(res.statusCode, 400, path);
      assert.match(await res.body.text(), /reserved for fnrun/);
    }
  });

  test("after downtime: exactly one catch-up run, then the schedule goes on", async () => {
    const before = (await control<Job>(d!, "GET", "/v1/jobs/tick")).history!.length;
    seen.push(...(await leftovers(d!.stateDir)).containers);
    assert.equal(await d!.stop("SIGTERM"), 0);
    const jobsFile = JSON.parse(await readFile(join(d!.stateDir, "jobs.json"), "utf8"));
    const last = jobsFile.jobs.tick.lastScheduled as number;
    await new Promise((r) => setTimeout(r, 11_000)); // at least two due times pass while it is down
    d = await startDaemonProcess(CONFIG, { dir: d!.dir });
    // The catch-up run's record lands when it ends; a tick due meanwhile is recorded at once as
    // skipped (overlap "forbid"), so wait for both the catch-up and a tick that really ran.
    const job = await until("a catch-up run of tick, then a scheduled one", async () => {
      const j = await control<Job>(d!, "GET", "/v1/jobs/tick");
      const h = j.history!.slice(before);
      return h.some((r) => r.trigger === "catch-up") && h.some((r) => r.trigger === "schedule" && r.outcome !== "skipped") ? j : null;
    }, 30_000);
    const after = job.history!.slice(before);
    const catchUps = after.filter((r) => r.trigger === "catch-up");
    assert.equal(catchUps.length, 1, JSON.stringify(after.map((r) => [r.trigger, r.scheduledTime])));
    assert.ok(Date.parse(catchUps[0].scheduledTime) > last + 5000, "the catch-up is for the latest missed time, not the first");
    assert.match(d.log(), /job tick: \d+ runs missed while the daemon was down; one catch-up run for /);
  });
});
