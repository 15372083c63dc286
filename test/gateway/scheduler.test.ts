/**
 * The scheduler core with a fake clock: DST both ways, catch-up after downtime, overlap,
 * late timers, warm-ups; and jobs.json (bounded history, atomic writes).
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { HISTORY_LIMIT, JobStore, type RunRecord } from "../../gateway/job-store.ts";
import { Schedule } from "../../gateway/schedule.ts";
import { type Clock, JobBusyError, latestMissed, type RunRequest, Scheduler } from "../../gateway/scheduler.ts";

/** Time stands still until advanceTo(); timers fire in order, each run's promise callbacks settle between them. */
class FakeClock implements Clock {
  t: number;
  timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  constructor(start: string | number) {
    this.t = typeof start === "number" ? start : Date.parse(start);
  }
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number) {
    const timer = { at: this.t + Math.max(0, ms), fn, live: true };
    this.timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  }
  /** Moves time to `target`, firing every timer due on the way at its own time. */
  async advanceTo(target: string | number): Promise<void> {
    const end = typeof target === "number" ? target : Date.parse(target);
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      due.live = false;
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
  /** Jumps to `target` WITHOUT firing timers on the way (a suspended host), then fires what is due. */
  async jumpTo(target: string | number): Promise<void> {
    this.t = typeof target === "number" ? target : Date.parse(target);
    await this.advanceTo(this.t);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

const iso = (t: number) => new Date(t).toISOString();

/** A scheduler whose runs resolve at once (or when `hold` says) and are recorded. */
function harness(opts: { clock: FakeClock; last?: number; hold?: boolean; warmLeadMs?: number }) {
  const runs: RunRequest[] = [];
  const skipped: RunRequest[] = [];
  const warmed: number[] = [];
  const started: RunRequest[] = [];
  const missed: Array<{ count: number; latest: number }> = [];
  const releases: Array<() => void> = [];
  const scheduler = new Scheduler<string>({
    clock: opts.clock,
    run: (req) => {
      runs.push(req);
      return opts.hold ? new Promise<string>((r) => releases.push(() => r("done"))) : Promise.resolve("done");
    },
    warm: () => warmed.push(opts.clock.now()),
    warmLeadMs: opts.warmLeadMs ?? 0,
    lastScheduled: () => opts.last,
    onStart: (req) => started.push(req),
    onSkip: (req) => skipped.push(req),
    onMissed: (_n, count, latest) => missed.push({ count, latest }),
  });
  return { scheduler, runs, skipped, warmed, started, missed, releases };
}

describe("Schedule: run times under the DST rule", () => {
  test("spring forward: a daily 02:30 in Europe/Berlin does not run on the day 02:30 does not exist", async () => {
    const clock = new FakeClock("2026-03-27T12:00:00Z");
    const h = harness({ clock });
    h.scheduler.set({ name: "nightly", schedule: new Schedule("30 2 * * *", "Europe/Berlin"), overlap: "forbid" });
    await clock.advanceTo("2026-03-31T12:00:00Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)), [
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      // 2026-03-29: the clock jumps 02:00 → 03:00; no 02:30, no run (croner alone would run at 03:00)
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
      "2026-03-31T00:30:00.000Z",
    ]);
    assert.ok(h.runs.every((r) => r.trigger === "schedule" && r.cron === "30 2 * * *"));
  });

  test("spring forward: an hourly job in America/New_York runs for 01:00 and 03:00, nothing for the missing 02:00", async () => {
    const clock = new FakeClock("2026-03-08T05:30:00Z"); // 00:30 EST
    const h = harness({ clock });
    h.scheduler.set({ name: "hourly", schedule: new Schedule("0 * * * *", "America/New_York"), overlap: "forbid" });
    await clock.advanceTo("2026-03-08T08:30:00Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)), [
      "2026-03-08T06:00:00.000Z", // 01:00 EST
      "2026-03-08T07:00:00.000Z", // 03:00 EDT
      "2026-03-08T08:00:00.000Z", // 04:00 EDT
    ]);
  });

  test("fall back: a daily 02:30 in Europe/Berlin runs once although 02:30 happens twice", async () => {
    const clock = new FakeClock("2026-10-24T12:00:00Z");
    const h = harness({ clock });
    h.scheduler.set({ name: "nightly", schedule: new Schedule("30 2 * * *", "Europe/Berlin"), overlap: "forbid" });
    await clock.advanceTo("2026-10-26T12:00:00Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)), [
      "2026-10-25T00:30:00.000Z", // 02:30 CEST, the first 02:30; not 01:30Z (02:30 CET) again
      "2026-10-26T01:30:00.000Z", // 02:30 CET
    ]);
  });

  test("fall back: an every-30-minutes job runs once per wall-clock time, not on the repeated hour again", async () => {
    const clock = new FakeClock("2026-10-24T23:50:00Z"); // 01:50 CEST
    const h = harness({ clock });
    h.scheduler.set({ name: "half", schedule: new Schedule("*/30 * * * *", "Europe/Berlin"), overlap: "forbid" });
    await clock.advanceTo("2026-10-25T03:10:00Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)), [
      "2026-10-25T00:00:00.000Z", // 02:00 CEST
      "2026-10-25T00:30:00.000Z", // 02:30 CEST
      // 01:00Z and 01:30Z are 02:00 and 02:30 CET: the same wall-clock times again, skipped
      "2026-10-25T02:00:00.000Z", // 03:00 CET
      "2026-10-25T02:30:00.000Z",
      "2026-10-25T03:00:00.000Z",
    ]);
  });

  test("fall back: an hourly job in America/New_York runs 01:00 once", () => {
    const s = new Schedule("0 * * * *", "America/New_York");
    assert.deepEqual(s.nextRuns(3, Date.parse("2026-11-01T04:30:00Z")).map(iso), [
      "2026-11-01T05:00:00.000Z", // 01:00 EDT
      "2026-11-01T07:00:00.000Z", // 02:00 EST (06:00Z, 01:00 EST, is a repeat)
      "2026-11-01T08:00:00.000Z",
    ]);
  });

  test("aliases, UTC, a 6-field seconds schedule", () => {
    const from = Date.parse("2026-05-15T10:20:30Z");
    assert.equal(iso(new Schedule("@hourly", "UTC").next(from)!), "2026-05-15T11:00:00.000Z");
    assert.equal(iso(new Schedule("@daily", "UTC").next(from)!), "2026-05-16T00:00:00.000Z");
    assert.equal(iso(new Schedule("@weekly", "UTC").next(from)!), "2026-05-17T00:00:00.000Z"); // Sunday
    assert.equal(iso(new Schedule("@monthly", "UTC").next(from)!), "2026-06-01T00:00:00.000Z");
    assert.equal(iso(new Schedule("@yearly", "UTC").next(from)!), "2027-01-01T00:00:00.000Z");
    assert.equal(iso(new Schedule("*/5 * * * * *", "UTC").next(from)!), "2026-05-15T10:20:35.000Z");
  });
});

describe("Scheduler: downtime, overlap, late timers, warm-ups", () => {
  test("after downtime, missed runs are made up by exactly one catch-up run, for the latest missed time", async () => {
    const clock = new FakeClock("2026-06-10T12:00:00Z");
    // Last run: June 1st 03:00 UTC; nine daily runs (2nd..10th) were missed.
    const h = harness({ clock, last: Date.parse("2026-06-01T03:00:00Z") });
    h.scheduler.set({ name: "daily", schedule: new Schedule("0 3 * * *", "UTC"), overlap: "forbid" });
    await settle();
    assert.deepEqual(h.runs.map((r) => [r.trigger, iso(r.scheduledTime)]), [["catch-up", "2026-06-10T03:00:00.000Z"]]);
    assert.deepEqual(h.missed, [{ count: 9, latest: Date.parse("2026-06-10T03:00:00Z") }]);
    assert.equal(h.started.length, 1, "the catch-up run is persisted as the last run");
    assert.equal(iso(h.scheduler.nextRun("daily")!), "2026-06-11T03:00:00.000Z");
    await clock.advanceTo("2026-06-11T04:00:00Z");
    assert.deepEqual(h.runs.map((r) => r.trigger), ["catch-up", "schedule"]);
  });

  test("no catch-up when nothing was missed, or when the job never ran", async () => {
    const clock = new FakeClock("2026-06-10T12:00:00Z");
    const ranToday = harness({ clock, last: Date.parse("2026-06-10T03:00:00Z") });
    ranToday.scheduler.set({ name: "daily", schedule: new Schedule("0 3 * * *", "UTC"), overlap: "forbid" });
    const never = harness({ clock });
    never.scheduler.set({ name: "daily", schedule: new Schedule("0 3 * * *", "UTC"), overlap: "forbid" });
    await settle();
    assert.equal(ranToday.runs.length, 0);
    assert.equal(never.runs.length, 0);
  });

  test("a redeploy (set again) re-arms without another catch-up", async () => {
    const clock = new FakeClock("2026-06-10T12:00:00Z");
    const h = harness({ clock, last: Date.parse("2026-06-01T03:00:00Z") });
    const spec = { name: "daily", schedule: new Schedule("0 3 * * *", "UTC"), overlap: "forbid" as const };
    h.scheduler.set(spec);
    h.scheduler.set(spec);
    await settle();
    assert.equal(h.runs.length, 1);
  });

  test("a catch-up after a long outage of a seconds schedule stays cheap and runs once", () => {
    const s = new Schedule("* * * * * *", "UTC");
    const now = Date.parse("2026-06-10T12:00:00Z");
    const t0 = performance.now();
    const m = latestMissed(s, now - 2 * 86_400_000, now)!;
    assert.equal(m.more, true);
    assert.equal(iso(m.latest), "2026-06-10T12:00:00.000Z");
    assert.ok(performance.now() - t0 < 5000);
  });

  test('overlap "forbid": runs due while one is going are skipped, and a manual run is refused', async () => {
    const clock = new FakeClock("2026-06-10T12:00:30Z");
    const h = harness({ clock, hold: true });
    h.scheduler.set({ name: "slow", schedule: new Schedule("* * * * *", "UTC"), overlap: "forbid" });
    await clock.advanceTo("2026-06-10T12:03:30Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)), ["2026-06-10T12:01:00.000Z"]);
    assert.deepEqual(h.skipped.map((r) => iso(r.scheduledTime)), ["2026-06-10T12:02:00.000Z", "2026-06-10T12:03:00.000Z"]);
    assert.equal(h.scheduler.running("slow"), 1);
    assert.throws(() => h.scheduler.runNow("slow"), (err: JobBusyError) => err.code === "FNRUN_JOB_BUSY" && err.kind === "user" && /still running/.test(err.message));
    h.releases.shift()!();
    await settle();
    assert.equal(h.scheduler.running("slow"), 0);
    await clock.advanceTo("2026-06-10T12:04:30Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)).at(-1), "2026-06-10T12:04:00.000Z");
  });

  test('overlap "allow": runs start while earlier ones are still going', async () => {
    const clock = new FakeClock("2026-06-10T12:00:30Z");
    const h = harness({ clock, hold: true });
    h.scheduler.set({ name: "slow", schedule: new Schedule("* * * * *", "UTC"), overlap: "allow" });
    await clock.advanceTo("2026-06-10T12:03:30Z");
    assert.equal(h.runs.length, 3);
    assert.equal(h.skipped.length, 0);
    assert.equal(h.scheduler.running("slow"), 3);
    const manual = h.scheduler.runNow("slow");
    assert.equal(h.runs.at(-1)!.trigger, "manual");
    assert.equal(h.started.filter((r) => r.trigger === "manual").length, 0, "a manual run does not move the last scheduled time");
    for (const r of h.releases.splice(0)) r();
    assert.equal(await manual, "done");
  });

  test("a timer that fires an hour late (suspended host) runs once and re-arms from now", async () => {
    const clock = new FakeClock("2026-06-10T12:00:30Z");
    const h = harness({ clock });
    h.scheduler.set({ name: "minutely", schedule: new Schedule("* * * * *", "UTC"), overlap: "forbid" });
    await clock.jumpTo("2026-06-10T13:00:10Z");
    assert.deepEqual(h.runs.map((r) => iso(r.scheduledTime)), ["2026-06-10T12:01:00.000Z"]);
    assert.equal(iso(h.scheduler.nextRun("minutely")!), "2026-06-10T13:01:00.000Z");
  });

  test("warm-up: asked warmLeadMs before each run", async () => {
    const clock = new FakeClock("2026-06-10T12:00:30Z");
    const h = harness({ clock, warmLeadMs: 10_000 });
    h.scheduler.set({ name: "minutely", schedule: new Schedule("* * * * *", "UTC"), overlap: "forbid" });
    await clock.advanceTo("2026-06-10T12:02:30Z");
    assert.deepEqual(h.warmed.map(iso), ["2026-06-10T12:00:50.000Z", "2026-06-10T12:01:50.000Z"]);
  });

  test("delete and close stop the timers", async () => {
    const clock = new FakeClock("2026-06-10T12:00:30Z");
    const h = harness({ clock });
    h.scheduler.set({ name: "a", schedule: new Schedule("* * * * *", "UTC"), overlap: "forbid" });
    h.scheduler.set({ name: "b", schedule: new Schedule("* * * * *", "UTC"), overlap: "forbid" });
    assert.equal(h.scheduler.delete("a"), true);
    await clock.advanceTo("2026-06-10T12:01:30Z");
    assert.deepEqual(h.runs.map((r) => r.name), ["b"]);
    h.scheduler.close();
    await clock.advanceTo("2026-06-10T12:05:30Z");
    assert.equal(h.runs.length, 1);
    assert.equal(h.scheduler.nextRun("b"), null);
  });
});

describe("JobStore: <state>/jobs.json", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  const run = (i: number): RunRecord => ({
    id: `job-x-${i}`, trigger: "schedule", scheduledTime: iso(i * 60_000), startedAt: iso(i * 60_000), durationMs: 1, outcome: "ok", start: "warm", logs: [`line ${i}`],
  });

  test("keeps the last run time and at most HISTORY_LIMIT runs, across a reload; writes leave no temp files", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "fnrun-"));
    dirs.push(dir);
    const store = new JobStore(dir);
    await store.load();
    await Promise.all(Array.from({ length: HISTORY_LIMIT + 10 }, (_, i) => store.add("x", run(i))));
    await store.setLastScheduled("x", 123_000);
    const again = new JobStore(dir);
    await again.load();
    assert.equal(again.lastScheduled("x"), 123_000);
    assert.equal(again.history("x").length, HISTORY_LIMIT);
    assert.equal(again.history("x")[0].id, "job-x-10");
    assert.equal(again.history("x").at(-1)!.id, `job-x-${HISTORY_LIMIT + 9}`);
    assert.deepEqual(await readdir(dir), ["jobs.json"]);
    assert.equal(JSON.parse(await readFile(path.join(dir, "jobs.json"), "utf8")).version, 1);
  });

  test("a corrupt jobs.json is reported and replaced, not fatal", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "fnrun-"));
    dirs.push(dir);
    const { writeFile } = await import("node:fs/promises");
    await writeFile(path.join(dir, "jobs.json"), "{not json");
    const store = new JobStore(dir);
    const errors: string[] = [];
    await store.load((e) => errors.push(e.message));
    assert.match(errors[0], /jobs\.json: not valid JSON/);
    assert.equal(store.lastScheduled("x"), undefined);
  });
});
