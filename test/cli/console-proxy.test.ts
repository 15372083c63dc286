/**
 * `fnrun console` against a real daemon: a URL on 127.0.0.1 whose fragment token opens the
 * console in a real Chromium (data, log tail through the proxy, no console error), while the
 * same port without that token gets the login prompt and no data; not the daemon's token,
 * not another Host, not an endpoint the console does not use; `--host`/`--token-file` for a
 * remote daemon; Ctrl-C stops it; a bad or busy --port or no daemon is one line with the fix.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { request } from "undici";
import { assertNoData, launchChromium, openPage } from "../helpers/console-browser.ts";
import { cli, MIN_ENV, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";

const TOKEN = "console-token-0123456789abcdef0123456789";

const CONFIG = (dir: string) => `
[gateway]
listen = "127.0.0.1:0"

[control]
listen = "127.0.0.1:0"
token_file = "${dir}/control.token"

[pool]
stem_cells = 0

[functions.greeter]
dir = "${ROOT}/test/fixtures/console/greeter"
routes = ["GET /greet"]
`;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe("fnrun console", { timeout: 300_000 }, () => {
  let d: DaemonProcess;
  let controlUrl: string;
  let browser: Browser;
  const consoleChildren: ChildProcess[] = [];

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "fnrun-console-proxy-"));
    await writeFile(join(dir, "control.token"), `${TOKEN}\n`, { mode: 0o600 });
    [d, browser] = await Promise.all([startDaemonProcess(CONFIG(dir), { dir }), launchChromium()]);
    controlUrl = (/control API listening on (http:\/\/[^"\s]+)/.exec(d.log()) ?? [])[1];
    assert.ok(controlUrl, d.log());
  });
  after(async () => {
    for (const c of consoleChildren) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await browser?.close();
    await d?.stop("SIGTERM");
    if (d) await rm(d.dir, { recursive: true, force: true });
  });

  test("fnrun console: a bad --port, a busy port or no daemon is one line with the fix", async () => {
    const bad = await d.cli(["console", "--port", "99999"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port: expected a port number from 1 to 65535, got "99999"/);
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (busy.address() as { port: number }).port;
      const taken = await d.cli(["console", "--port", String(port)]);
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, new RegExp(`--port ${port}: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); pick another port, or leave out --port`));
    } finally {
      busy.close();
    }
    const nowhere = await mkdtemp(join(tmpdir(), "fnrun-console-none-"));
    try {
      await writeFile(join(nowhere, "config.toml"), `[daemon]\nstate_dir = "${nowhere}/st"\n`);
      const none = await cli(["console", "--config", join(nowhere, "config.toml")]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /cannot reach the fnrun daemon at .*; start it with `fnrun up`/);
      for (const r of [bad, none]) assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    } finally {
      await rm(nowhere, { recursive: true, force: true });
    }
  });

  test("fnrun console --host --token-file: the same console for a daemon's TCP control listener", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin/fnrun.mjs"), "console", "--json", "--host", controlUrl, "--token-file", join(d.dir, "control.token")], { env: MIN_ENV, stdio: ["ignore", "pipe", "pipe"] });
    consoleChildren.push(child);
    let out = "";
    let err = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (err += c));
    const exited = new Promise<number | string>((r) => child.once("exit", (code, sig) => r(code ?? sig ?? -1)));
    try {
      const line = await until("the console's URL", async () => (out.includes("\n") ? out : null), 60_000).catch((e) => {
        throw new Error(`${(e as Error).message}\nstdout: ${out}\nstderr: ${err}`);
      });
      const { url } = JSON.parse(line) as { url: string };
      const [base, token] = url.split("#token=");
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.notEqual(token, TOKEN, "a token of its own, not the daemon's");
      const overview = await get(`${base}v1/overview`, { authorization: `Bearer ${token}` });
      assert.equal(overview.status, 200, overview.text);
      assert.ok((JSON.parse(overview.text).functions as Array<{ name: string }>).some((f) => f.name === "greeter"));
      assert.equal((await get(`${base}v1/overview`)).status, 401);
      assert.equal((await get(base)).status, 200, "the page shell");
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0, err);
  });

  test("fnrun console: a URL on 127.0.0.1 whose fragment token opens the console; the port without it gets no data; Ctrl-C stops it", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin/fnrun.mjs"), "console", "--config", d.configPath], { env: MIN_ENV, stdio: ["ignore", "pipe", "pipe"] });
    consoleChildren.push(child);
    let out = "";
    let err = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (err += c));
    const exited = new Promise<number | string>((r) => child.once("exit", (code, sig) => r(code ?? sig ?? -1)));
    const url = await until("the console's URL", async () => /^(http:\/\/127\.0\.0\.1:\d+\/)#token=([\w-]{43})\n/.exec(out), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}\nstdout: ${out}\nstderr: ${err}`);
    });
    const [, base, token] = url;
    await until("its note on stderr", async () => /Ctrl-C stops it/.test(err), 10_000);

    const context = await browser.newContext();
    try {
      const { page, errors } = await openPage(context);
      await page.goto(`${base}#token=${token}`);
      await page.locator('#functions tr[data-fn="greeter"]').waitFor({ timeout: 15_000 });
      assert.equal(new URL(page.url()).hash, "");
      // Followed logs pass through the proxy too.
      assert.equal((await get(`${d.url}/greet?tag=proxied`)).status, 200);
      await page.selectOption("#logs-fn", "greeter");
      await page.locator(".logview .line", { hasText: "greeter saw proxied" }).first().waitFor({ timeout: 10_000 });
      assert.deepEqual(errors, []);

      const { page: bare, api } = await openPage(context);
      // A new tab: sessionStorage is per tab, so it has no token.
      await bare.goto(base);
      await bare.locator("#login").waitFor({ state: "visible", timeout: 15_000 });
      await assertNoData(bare, ["greeter"]);
      assert.ok(api.length > 0 && api.every((r) => r.status === 401), JSON.stringify(api));
    } finally {
      await context.close();
    }
    // Not the daemon's token either, nor a stranger's Host (DNS rebinding), nor anything the console does not use.
    assert.equal((await get(`${base}v1/overview`, { authorization: `Bearer ${TOKEN}` })).status, 401);
    assert.equal((await get(`${base}v1/overview`, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await get(`${base}v1/overview`, { authorization: `Bearer ${token}`, host: "attacker.example" })).status, 421);
    assert.equal((await get(`${base}v1/functions`, { authorization: `Bearer ${token}` })).status, 404);

    child.kill("SIGINT");
    assert.equal(await exited, 0, err);
    await assert.rejects(get(`${base}`), /ECONNREFUSED/);
  });
});
