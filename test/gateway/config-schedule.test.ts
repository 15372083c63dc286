/**
 * config.toml's schedule keys: schedule, timezone, overlap — accepted forms and the exact
 * messages of the rejected ones, each naming its key.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, parseConfig } from "../../gateway/config.ts";

const FILE = "/srv/app/config.toml";

function parse(fn: string) {
  return parseConfig(`[functions.job]\ndir = "functions/job"\n${fn}\n`, { path: FILE, root: "/srv/app" });
}

/** The diagnostics of a config that must fail, as "key: message". */
function errors(fn: string): string[] {
  try {
    parse(fn);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.diagnostics.filter((d) => d.level === "error").map((d) => `${d.key}: ${d.message}`);
  }
  assert.fail("parseConfig did not throw");
}

describe("config: schedule, timezone, overlap", () => {
  test("accepted: 5 fields, aliases, 6 fields (seconds), a time zone, both overlap policies", () => {
    for (const schedule of ["0 3 * * *", "*/15 9-17 * * MON-FRI", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "*/5 * * * * *"]) {
      const { config, warnings } = parse(`schedule = "${schedule}"`);
      assert.equal(config.functions.get("job")!.schedule, schedule);
      assert.deepEqual(warnings, []);
    }
    const { config } = parse(`schedule = "0 3 * * *"\ntimezone = "Europe/Berlin"\noverlap = "allow"`);
    const fn = config.functions.get("job")!;
    assert.deepEqual([fn.schedule, fn.timezone, fn.overlap], ["0 3 * * *", "Europe/Berlin", "allow"]);
    assert.equal(parse(`schedule = "@daily"`).config.functions.get("job")!.overlap, undefined, "default: forbid, applied by the scheduler");
  });

  test("a schedule that never fires is refused, naming the key", () => {
    assert.deepEqual(errors(`schedule = "0 0 30 2 *"`), [
      `functions.job.schedule: "0 0 30 2 *" never fires (no date matches it, like February 30th); check the day-of-month and month fields`,
    ]);
  });

  test("a malformed schedule names the key and the expected form", () => {
    const [e] = errors(`schedule = "61 * * * *"`);
    assert.equal(e, `functions.job.schedule: expected a cron expression of 5 fields like "0 3 * * *" (minute hour day-of-month month day-of-week) or one of @yearly @annually @monthly @weekly @daily @midnight @hourly, got "61 * * * *": Invalid value for minute: 61`);
    assert.match(errors(`schedule = "* * *"`)[0], /^functions\.job\.schedule: expected a cron expression of 5 fields .* got "\* \* \*"/);
    assert.match(errors(`schedule = 5`)[0], /^functions\.job\.schedule: expected a cron expression .*, got 5$/);
    assert.match(errors(`schedule = "@reboot"`)[0], /^functions\.job\.schedule: .*@reboot/);
  });

  test("an unknown time zone names functions.X.timezone", () => {
    assert.deepEqual(errors(`schedule = "0 3 * * *"\ntimezone = "Europe/Atlantis"`), [
      `functions.job.timezone: unknown time zone "Europe/Atlantis"; expected an IANA name like "Europe/Berlin", "America/New_York" or "UTC"`,
    ]);
  });

  test("a bad overlap names functions.X.overlap", () => {
    assert.deepEqual(errors(`schedule = "0 3 * * *"\noverlap = "queue"`), [
      `functions.job.overlap: expected "forbid" (a run is skipped while the previous one still runs) or "allow", got "queue"`,
    ]);
  });

  test("every problem at once; timezone and overlap without schedule warn", () => {
    assert.equal(errors(`schedule = "0 0 31 4 *"\ntimezone = "Nowhere"\noverlap = 1`).length, 3);
    const { warnings } = parse(`timezone = "UTC"\noverlap = "allow"`);
    assert.deepEqual(warnings.map((w) => `${w.key}: ${w.message}`), [
      "functions.job.timezone: has no effect without schedule",
      "functions.job.overlap: has no effect without schedule",
    ]);
  });
});
