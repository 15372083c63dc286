/**
 * The web console in a real headless Chromium (playwright-core driving Debian's chromium)
 * against a real daemon (`fnrun up` child, real runc): the page loads with the token and no
 * console error; a request sent to the gateway shows in the invocation list within 2 s (the
 * issue's bound: the page polls once a second); stem and cold starts show their phases; the
 * log tail shows what the function logs, as text; "Run now" runs a job and the run shows in
 * its history; a missing or wrong token gets the login prompt and no data. `fnrun console`
 * is tested in console-proxy.test.ts.
 *
 * FNRUN_CONSOLE_SCREENSHOT=docs/console.png node --import tsx --test test/cli/console.test.ts
 * also writes the README's screenshot.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { Agent, request } from "undici";
import { assertNoData, launchChromium, openPage } from "../helpers/console-browser.ts";
import { ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";

const FIX = join(ROOT, "test/fixtures");
const TOKEN = "console-token-0123456789abcdef0123456789";
/** Markup in a function's log and request: it must reach the page as text, never as elements. */
const MARKUP = `<img src=x id=injected onerror="document.title='owned'">`;

const CONFIG = (dir: string) => `
[gateway]
listen = "127.0.0.1:0"

[control]
listen = "127.0.0.1:0"
token_file = "${dir}/control.token"

[pool]
stem_cells = 1

[defaults]
memory = "64MiB"

[functions.greeter]
dir = "${FIX}/console/greeter"
routes = ["GET /greet", "GET /greet/:name"]

[functions.nightly]
dir = "${FIX}/console/nightly"
schedule = "0 3 * * *"
timezone = "Europe/Berlin"

[functions.slow]
dir = "${FIX}/gateway/slow"
concurrency = 1
max_instances = 3

# Not stem-compatible (its /tmp differs from the stem cells'): every new instance is a cold start.
[functions.slowcold]
dir = "${FIX}/console/coldsleeper"
concurrency = 1
max_instances = 2
tmp = "8MiB"

[functions.hello]
dir = "${ROOT}/functions/hello"
routes = ["GET /hello", "GET /hello/:name"]

[functions.api]
dir = "${ROOT}/functions/api"
routes = ["/api/*"]
`;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** GET over the daemon's unix control socket. */
async function viaSocket(d: DaemonProcess, path: string) {
  const agent = new Agent({ connect: { socketPath: join(d.stateDir, "fnrun.sock") } });
  try {
    const res = await request(`http://fnrun${path}`, { dispatcher: agent });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  } finally {
    await agent.close();
  }
}

describe("web console in a real browser", { timeout: 300_000 }, () => {
  let d: DaemonProcess;
  let controlUrl: string;
  let browser: Browser;
  const invocationIds: string[] = [];

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "fnrun-console-"));
    await writeFile(join(dir, "control.token"), `${TOKEN}\n`, { mode: 0o600 });
    [d, browser] = await Promise.all([
      startDaemonProcess(CONFIG(dir), { dir }),
      launchChromium(),
    ]);
    controlUrl = (/control API listening on (http:\/\/[^"\s]+)/.exec(d.log()) ?? [])[1];
    assert.ok(controlUrl, d.log());
  });
  after(async () => {
    await browser?.close();
    await d?.stop("SIGTERM");
    if (d) await rm(d.dir, { recursive: true, force: true });
  });

  test("the page shell needs no token and has a strict CSP; its data needs the token on TCP, none on the unix socket", async () => {
    const page = await get(`${controlUrl}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    const csp = String(page.headers["content-security-policy"]);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(page.headers["x-content-type-options"], "nosniff");
    assert.equal(page.headers["referrer-policy"], "no-referrer");
    assert.doesNotMatch(page.text, /<script>|<style>| on\w+=/, "no inline script, style or handler in the shell");
    assert.ok(!page.text.includes("greeter"), "the shell holds no data");
    for (const asset of ["/console/main.js", "/console/console.css"]) assert.equal((await get(`${controlUrl}${asset}`)).status, 200, asset);
    // Only the console's own files: a path that climbs out is no console path (then the token applies), an encoded one is not found.
    assert.equal((await get(`${controlUrl}/console/../../config.toml`)).status, 401);
    assert.equal((await get(`${controlUrl}/console/..%2f..%2fconfig.toml`)).status, 404);

    for (const path of ["/v1/overview", "/v1/deploys"]) {
      assert.equal((await get(`${controlUrl}${path}`)).status, 401, `${path} without a token`);
      assert.equal((await get(`${controlUrl}${path}`, { authorization: "Bearer wrong-token-0123456789abcdef" })).status, 401, `${path} with a wrong token`);
      assert.equal((await get(`${controlUrl}${path}`, { authorization: `Bearer ${TOKEN}` })).status, 200, `${path} with the token`);
    }
    assert.equal((await viaSocket(d, "/")).status, 200);
    const overview = JSON.parse((await viaSocket(d, "/v1/overview")).text);
    assert.deepEqual(overview.functions.map((f: { name: string }) => f.name).sort(), ["api", "greeter", "hello", "nightly", "slow", "slowcold"]);
    const greeter = overview.functions.find((f: { name: string }) => f.name === "greeter");
    assert.equal(greeter.memory.limitBytes, 64 * 1048576);
    assert.deepEqual(overview.jobs.map((j: { name: string }) => j.name), ["nightly"]);
    assert.ok(overview.deploys.some((e: { name: string; ok: boolean }) => e.name === "greeter" && e.ok), "start-up deploys are in the history");
  });

  test("with the token: no console error, a request shows within 2 s with its phases (held while hovered), the log tail shows its line as text", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    try {
      const { page, errors, api } = await openPage(context);
      // The fragment, as `fnrun console` prints it: it never reaches the server and leaves the address bar.
      await page.goto(`${controlUrl}/#token=${TOKEN}`);
      await page.locator('#functions tr[data-fn="greeter"]').waitFor({ timeout: 15_000 });
      assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
      assert.equal(await page.evaluate(() => sessionStorage.getItem("fnrun.console.token")), TOKEN);
      await page.mouse.move(0, 0); // the invocation list holds still under the pointer

      const sent = await get(`${d.url}/greet?tag=${encodeURIComponent(MARKUP)}`);
      assert.equal(sent.status, 200);
      const id = sent.text;
      invocationIds.push(id);
      const row = page.locator(`#invocations tr[data-invocation-id="${id}"]`);
      await row.waitFor({ timeout: 2000 });
      assert.equal(await row.locator(".status").textContent(), "200");
      assert.equal(await row.locator(".kind").textContent(), "warm");
      assert.ok((await row.locator(".seg.handler").count()) === 1, "the handler phase is drawn");

      // Under the pointer the list holds still: a snapshot with a new invocation is seen but not shown, until the pointer leaves.
      await page.locator("#invocations tbody").hover();
      const heldId = (await get(`${d.url}/greet?tag=held`)).text;
      invocationIds.push(heldId);
      const snapshot = await page.waitForResponse(async (r) => r.url().includes("/v1/overview") && (await r.text()).includes(heldId), { timeout: 5000 });
      await page.locator(`#invocations[data-seen="${(await snapshot.json()).now}"]`).waitFor({ state: "attached", timeout: 5000 });
      assert.equal(await page.locator(`#invocations tr[data-invocation-id="${heldId}"]`).count(), 0, "held while hovered");
      assert.equal(await page.locator("#invocations .paused").isVisible(), true);
      await page.mouse.move(0, 0);
      await page.locator(`#invocations tr[data-invocation-id="${heldId}"]`).waitFor({ timeout: 2000 });
      assert.equal(await page.locator("#invocations .paused").isVisible(), false);

      // The log tail: the function's line, its markup as text.
      await page.selectOption("#logs-fn", "greeter");
      const line = page.locator(".logview .line", { hasText: "greeter saw <img" });
      await line.waitFor({ timeout: 10_000 });
      assert.equal(await line.locator(".text").textContent(), `greeter saw ${MARKUP}`);
      assert.equal(await page.locator("#injected").count(), 0, "no element was made from the log line");
      assert.notEqual(await page.title(), "owned");
      assert.deepEqual(errors, [], "no console error");
      assert.ok(api.every((r) => r.status === 200), JSON.stringify(api));
    } finally {
      await context.close();
    }
  });

  test("stem and cold starts show their specialize and create phases", async () => {
    await until("the stem cell ready", async () => JSON.parse((await viaSocket(d, "/v1/pool")).text).stemCells.ready === 1, 60_000);
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    try {
      const { page, errors } = await openPage(context);
      await page.goto(`${controlUrl}/#token=${TOKEN}`);
      await page.locator('#functions tr[data-fn="slow"]').waitFor({ timeout: 15_000 });
      await page.mouse.move(0, 0);
      // Each has one warm instance with one slot: a long request holds it, so the next one gets the
      // stem cell (slow) or a cold start (slowcold) — unless that start took longer than the hold.
      const held = ["slow", "slowcold"].map((fn) => get(`${d.url}/${fn}?ms=6000`));
      await until("both held", async () => {
        const fns = JSON.parse((await viaSocket(d, "/v1/functions")).text) as Array<{ name: string; instances: { busy: number } | null }>;
        return fns.filter((f) => f.name.startsWith("slow") && f.instances?.busy === 1).length === 2;
      });
      await Promise.all([...held, ...["slow", "slowcold"].map((fn) => get(`${d.url}/${fn}?ms=1500`))]);
      // What the gateway recorded: the page must show these.
      const recorded = JSON.parse((await viaSocket(d, "/v1/invocations")).text) as Array<{ fn: string; kind: string; handlerMs: number }>;
      const slow = recorded.filter((r) => r.fn.startsWith("slow"));
      assert.deepEqual(slow.map((r) => `${r.fn} ${r.kind}`).sort(), ["slow stem", "slow warm", "slowcold cold", "slowcold warm"]);
      // The handler phase is the function's own time: at least its 1.5 s sleep.
      for (const r of slow) assert.ok(r.handlerMs >= 1400, `handler time recorded: ${r.handlerMs}`);
      const stem = page.locator('#invocations tr[data-fn="slow"]', { has: page.locator(".kind.stem") });
      const cold = page.locator('#invocations tr[data-fn="slowcold"]', { has: page.locator(".kind.cold") });
      await stem.first().waitFor({ timeout: 10_000 });
      await cold.first().waitFor({ timeout: 10_000 });
      assert.equal(await stem.first().locator(".seg.specialize").count(), 1, "a stem start shows its specialization");
      assert.equal(await cold.first().locator(".seg.create").count(), 1, "a cold start shows its container creation");
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test("Run now runs the job, shows its result, and the run appears in the job's history", async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    try {
      const { page, errors } = await openPage(context);
      await page.goto(`${controlUrl}/#token=${TOKEN}`);
      const job = page.locator('#jobs article[data-job="nightly"]');
      await job.waitFor({ timeout: 15_000 });
      const ran = page.waitForResponse((r) => r.url().endsWith("/v1/jobs/nightly/run") && r.request().method() === "POST");
      await job.locator("button.run").click();
      const answer = await ran;
      assert.equal(answer.status(), 200);
      const run = (await answer.json()) as { id: string; outcome: string; trigger: string; logs: string[] };
      assert.equal(run.outcome, "ok");
      assert.equal(run.trigger, "manual");
      await job.locator(`.result[data-run-id="${run.id}"]`).waitFor({ timeout: 10_000 });
      // The run's log lines as the daemon gathered them (it may miss lines still on their way to the log file under load: jobs.ts waits 150 ms).
      const shown = (await job.locator(".result").textContent()) ?? "";
      for (const l of run.logs.slice(-10)) assert.ok(shown.includes(l), `the run's log line "${l}" is shown`);
      await job.locator(`tr.run[data-run-id="${run.id}"]`).waitFor({ timeout: 10_000 });
      assert.equal(await job.locator(`tr.run[data-run-id="${run.id}"] .outcome`).textContent(), "ok");
      // The daemon's own record of it.
      const history = JSON.parse((await viaSocket(d, "/v1/jobs/nightly")).text).history as Array<{ id: string; trigger: string }>;
      assert.equal(history.find((r) => r.id === run.id)?.trigger, "manual");
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test("the deploy history shows a failed deploy with its error, and a removal", async () => {
    const bad = await mkdtemp(join(tmpdir(), "fnrun-console-bad-"));
    try {
      const name = "broken";
      await mkdir(join(bad, name));
      await writeFile(join(bad, name, "index.mjs"), "export default { fetch() { return new Response('x' +); } };\n");
      const out = await d.cli(["deploy", join(bad, name)]);
      assert.equal(out.code, 1, out.stderr);
      assert.equal((await d.cli(["deploy", join(FIX, "gateway/logger")])).code, 0);
      assert.equal((await d.cli(["rm", "logger"])).code, 0);
      const events = JSON.parse((await viaSocket(d, "/v1/deploys")).text) as Array<{ action: string; name: string; ok: boolean; error?: string }>;
      assert.deepEqual(events.slice(0, 2).map((e) => [e.action, e.name, e.ok]), [["remove", "logger", true], ["deploy", "logger", true]]);
      const failed = events.find((e) => e.name === name);
      assert.equal(failed?.ok, false);
      assert.match(failed?.error ?? "", /index\.mjs:1:\d+/, "the error names the file and line");

      const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
      try {
        const { page } = await openPage(context);
        await page.goto(`${controlUrl}/#token=${TOKEN}`);
        const row = page.locator(`#deploys tr[data-fn="${name}"]`);
        await row.waitFor({ timeout: 15_000 });
        assert.equal(await row.locator(".outcome").textContent(), "failed");
        assert.match((await page.locator(`#deploys tr[data-fn="${name}"] + tr.error-row`).textContent()) ?? "", /index\.mjs:1:\d+/);
        assert.equal(await page.locator('#deploys tr[data-fn="logger"] .outcome').first().textContent(), "removed");
      } finally {
        await context.close();
      }
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  test("README screenshot (only with FNRUN_CONSOLE_SCREENSHOT=PATH)", { skip: !process.env.FNRUN_CONSOLE_SCREENSHOT }, async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1040 }, deviceScaleFactor: 1 });
    try {
      const { page } = await openPage(context);
      await page.goto(`${controlUrl}/#token=${TOKEN}`);
      await page.locator('#functions tr[data-fn="greeter"]').waitFor({ timeout: 15_000 });
      await page.mouse.move(0, 0);
      for (const path of ["/hello", "/hello/ada", "/api/todos", "/greet?tag=ok", "/greet/bob", "/hello/grace", "/api/todos/1"]) await get(`${d.url}${path}`);
      await page.selectOption("#logs-fn", "greeter");
      await page.waitForTimeout(2500);
      await page.screenshot({ path: resolve(ROOT, process.env.FNRUN_CONSOLE_SCREENSHOT!), fullPage: true });
    } finally {
      await context.close();
    }
  });

  test("a missing or a wrong token: the login prompt, no data, every data request 401; the right one opens it", async () => {
    const context = await browser.newContext();
    try {
      const { page, api } = await openPage(context);
      await page.goto(`${controlUrl}/`);
      await page.locator("#login").waitFor({ state: "visible", timeout: 15_000 });
      await assertNoData(page, ["greeter", "nightly", ...invocationIds]);
      assert.equal(await page.locator("#login-error").isHidden(), true, "no token yet: a prompt, not an error");

      await page.fill("#token", "wrong-token-0123456789abcdef0123");
      await page.click("#login-form button[type=submit]");
      await page.locator("#login-error").waitFor({ state: "visible", timeout: 10_000 });
      assert.match((await page.locator("#login-error").textContent()) ?? "", /refused this token/);
      await assertNoData(page, ["greeter", "nightly", ...invocationIds]);
      assert.equal(await page.evaluate(() => sessionStorage.getItem("fnrun.console.token")), null, "a refused token is not kept");

      // A wrong token in the fragment (pasted into this tab: only the fragment changes, no reload): the same.
      const refused = page.waitForResponse((r) => r.url().includes("/v1/overview"), { timeout: 10_000 });
      await page.goto(`${controlUrl}/#token=also-wrong-0123456789abcdef`);
      assert.equal((await refused).status(), 401);
      await page.locator("#login-error").waitFor({ state: "visible", timeout: 10_000 });
      assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
      await assertNoData(page, ["greeter", "nightly", ...invocationIds]);
      assert.ok(api.length >= 3, JSON.stringify(api));
      assert.ok(api.every((r) => r.status === 401), `every data request answered 401: ${JSON.stringify(api)}`);

      await page.fill("#token", TOKEN);
      await page.click("#login-form button[type=submit]");
      await page.locator('#functions tr[data-fn="greeter"]').waitFor({ timeout: 15_000 });
      assert.equal(await page.locator("#login").isHidden(), true);
    } finally {
      await context.close();
    }
  });
});
