/**
 * The whole path, real: `fnrun up` (a child process) builds and deploys functions into
 * runc containers and serves them; the CLI drives it over the control socket; requests go
 * over 127.0.0.1. Shutdown and SIGKILL recovery are checked from the host side.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { ROOT, startDaemonProcess, type DaemonProcess } from "../helpers/daemon-process.ts";
import { leftovers } from "../helpers/leftovers.ts";

const FIX = join(ROOT, "test/fixtures/gateway");

const CONFIG = `
[gateway]
listen = "127.0.0.1:0"
max_body = "64MiB"

[pool]
idle_timeout = "5m"

[defaults]
memory = "96MiB"
timeout = "20s"

[functions.hello]
dir = "${ROOT}/functions/hello"
routes = ["GET /hello", "GET /hello/:name"]
memory = "64MiB"
env = { GREETING_NAME = "fnrun" }

[functions.api]
dir = "${ROOT}/functions/api"
routes = ["/api/*"]
env = { STAGE = "test" }

[functions.echo]
dir = "${ROOT}/functions/echo"
routes = ["POST /echo"]

[functions.thrower]
dir = "${FIX}/thrower"

[functions.slow]
dir = "${FIX}/slow"
timeout = "1s"

[functions.logger]
dir = "${FIX}/logger"

[functions.crasher]
dir = "${FIX}/crasher"
`;

async function get(d: DaemonProcess, path: string, init: { method?: string; body?: string } = {}) {
  const res = await request(`${d.url}${path}`, { method: (init.method ?? "GET") as "GET", body: init.body, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe("fnrun up → deploy → request → response", { timeout: 600_000 }, () => {
  let d: DaemonProcess;

  before(async () => {
    d = await startDaemonProcess(CONFIG);
  });
  after(async () => {
    await d?.stop("SIGTERM");
  });

  test("serves a text function on its routes, with env from config.toml", async () => {
    assert.deepEqual(await get(d, "/hello").then((r) => [r.status, r.text]), [200, "hello, fnrun\n"]);
    assert.deepEqual(await get(d, "/hello/ada").then((r) => [r.status, r.text]), [200, "hello, ada\n"]);
    assert.equal((await get(d, "/hello", { method: "POST" })).status, 404, "routes are per method");
  });

  test("serves a Hono app with several routes and JSON", async () => {
    const list = await get(d, "/api/todos");
    assert.equal(list.status, 200);
    assert.match(String(list.headers["content-type"]), /application\/json/);
    assert.equal(JSON.parse(list.text)[0].title, "write a function");
    const created = await get(d, "/api/todos", { method: "POST", body: JSON.stringify({ title: "ship it" }) });
    assert.equal(created.status, 201);
    assert.equal(JSON.parse(created.text).title, "ship it");
    assert.deepEqual(JSON.parse((await get(d, "/api/env")).text), { stage: "test" });
    assert.equal((await get(d, "/api/todos/999")).status, 404);
  });

  test("an unknown route is 404 with a JSON body", async () => {
    const r = await get(d, "/no/such/thing");
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.text).code, "FNRUN_ROUTE_NOT_FOUND");
  });

  test("streams a 12 MiB body to the function and back", async () => {
    const size = 12 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);
    const sent = createHash("sha256");
    let left = size;
    const body = new Readable({
      read() {
        if (left <= 0) return this.push(null);
        left -= chunk.length;
        sent.update(chunk);
        this.push(chunk);
      },
    });
    const res = await request(`${d.url}/echo`, { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.statusCode, 200);
    const got = createHash("sha256");
    let n = 0;
    for await (const part of res.body) {
      got.update(part as Buffer);
      n += (part as Buffer).length;
    }
    assert.equal(n, size);
    assert.equal(got.digest("hex"), sent.digest("hex"));
  });

  test("a function that throws gives 502 with a JSON body that says so", async () => {
    const r = await get(d, "/thrower");
    assert.equal(r.status, 502);
    const body = JSON.parse(r.text);
    assert.equal(body.error, "function threw");
    assert.match(body.message, /thrower failed on purpose/);
    assert.equal((await get(d, "/thrower")).status, 502, "and keeps answering");
  });

  test("a function over its timeout gives 504, and its instance is replaced", async () => {
    const fast = await get(d, "/slow?ms=1");
    assert.equal(fast.status, 200);
    const r = await get(d, "/slow?ms=5000");
    assert.equal(r.status, 504);
    assert.equal(JSON.parse(r.text).code, "FNRUN_TIMEOUT");
    const next = await get(d, "/slow?ms=1");
    assert.equal(next.status, 200);
    assert.notEqual(next.text, fast.text, "a new instance answers after a timeout");
    assert.match((await d.cli(["logs", "slow"])).stdout, /invocation \S+ \(GET \/slow\?ms=5000\) timed out after 1000 ms/);
  });

  test("a function whose process dies mid-request gives 502 crashed, and the next request is served", async () => {
    const r = await get(d, "/crasher?die=1");
    assert.equal(r.status, 502);
    assert.equal(JSON.parse(r.text).code, "FNRUN_FUNCTION_CRASHED");
    const next = await get(d, "/crasher");
    assert.equal(next.status, 200);
    assert.match(next.text, /^alive /);
  });

  test("fnrun ls lists every function with its routes and instances", async () => {
    const out = await d.cli(["ls"]);
    assert.equal(out.code, 0, out.stderr);
    for (const name of ["hello", "api", "echo", "thrower", "slow", "logger", "crasher"]) assert.match(out.stdout, new RegExp(`^${name}\\s`, "m"));
    assert.match(out.stdout, /GET \/hello, GET \/hello\/:name/);
    const json = JSON.parse((await d.cli(["ls", "--json"])).stdout);
    const hello = json.functions.find((f: { name: string }) => f.name === "hello");
    assert.ok(hello.instances.instances >= 1);
  });

  test("fnrun invoke calls a function and prints its body", async () => {
    const out = await d.cli(["invoke", "hello", "--path", "/hello/cli"]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "hello, cli\n");
    const echoed = await d.cli(["invoke", "echo", "--data", "round trip"]);
    assert.equal(echoed.stdout, "round trip");
    const missing = await d.cli(["invoke", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /function `nope` is not deployed/);
  });

  test("fnrun logs shows what the function wrote to stdout and stderr", async () => {
    assert.equal((await get(d, "/logger?tag=xyzzy")).status, 200);
    const out = await d.cli(["logs", "logger"]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /logger says xyzzy/);
    assert.match(out.stdout, /logger warns xyzzy/);
  });

  test("fnrun deploy of a folder of folders deploys each on its default routes; rm removes one", async () => {
    const out = await d.cli(["deploy", join(FIX, "later")]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /deployed one revision \w+/);
    assert.match(out.stdout, /deployed two revision \w+/);
    assert.equal((await get(d, "/one")).text, "this is one\n");
    assert.equal((await get(d, "/two/anything")).text, "this is two\n");
    const rm = await d.cli(["rm", "one"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await get(d, "/one")).status, 404);
    assert.doesNotMatch((await d.cli(["ls"])).stdout, /^one\s/m);
  });

  test("a bad function fails its deploy with file and line, and the old revision keeps serving", async () => {
    const out = await d.cli(["deploy", join(FIX, "bad-syntax")]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /bad-syntax\/index\.ts:3:\d+/);
    assert.equal((await get(d, "/bad-syntax")).status, 404, "nothing was deployed");
    assert.equal((await get(d, "/hello")).status, 200);
  });

  test("a function that throws while loading fails its deploy with the error, and nothing is deployed", async () => {
    const out = await d.cli(["deploy", join(FIX, "init-fail")]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /deploy init-fail: function `init-fail`( \(revision \w+\))? failed to initialize in instance `[^`]+`: boom at import/);
    assert.equal((await get(d, "/init-fail")).status, 404);
    assert.doesNotMatch((await d.cli(["ls"])).stdout, /^init-fail\s/m);
  });

  test("fnrun build --dockerfile prints the generated Dockerfile", async () => {
    const out = await d.cli(["build", join(ROOT, "functions/hello"), "--dockerfile"]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^# generated by fnrun/m);
    assert.match(out.stdout, /^FROM \S+/m);
    assert.match(out.stdout, /^COPY index\.mjs \/app\/index\.mjs$/m);
    assert.match(out.stdout, /^USER 1000:1000$/m);
  });

  test("a redeploy under load fails no request", async () => {
    let failures = 0;
    let served = 0;
    let stop = false;
    const load = async () => {
      while (!stop) {
        const r = await get(d, "/hello");
        if (r.status === 200) served++;
        else failures++;
      }
    };
    const loads = [load(), load(), load()];
    const out = await d.cli(["deploy", join(ROOT, "functions/hello")]);
    const out2 = await d.cli(["deploy", join(ROOT, "functions/hello")]);
    stop = true;
    await Promise.all(loads);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out2.code, 0, out2.stderr);
    assert.equal(failures, 0);
    assert.ok(served > 0);
  });

  test("the control socket is root-only (0600) and is not served on the public listener", async () => {
    const s = await stat(join(d.stateDir, "fnrun.sock"));
    assert.equal(s.mode & 0o777, 0o600);
    for (const p of ["/v1/functions", "/v1/health"]) assert.equal((await get(d, p)).status, 404);
  });

  test("SIGTERM stops every container and leaves nothing behind", async () => {
    const before = await leftovers(d.stateDir);
    assert.ok(before.containers.length >= 7, `expected running containers, saw ${before.containers.length}; daemon log:\n${d.log()}`);
    const code = await d.stop("SIGTERM");
    assert.equal(code, 0, d.log());
    const left = await leftovers(d.stateDir, before.containers);
    assert.deepEqual(left, { containers: [], instanceDirs: [], cgroups: [], mounts: [] });
  });
});

describe("after a SIGKILL, the next fnrun up removes the orphans and serves again", { timeout: 300_000 }, () => {
  let d: DaemonProcess | undefined;
  after(async () => {
    await d?.stop("SIGKILL");
  });

  test("orphans are removed and every function is served again", async () => {
    const config = `[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 1\n[functions.hello]\ndir = "${ROOT}/functions/hello"\nmin_instances = 2\n`;
    d = await startDaemonProcess(config);
    assert.equal((await get(d, "/hello")).status, 200);
    assert.equal((await d.cli(["deploy", join(FIX, "later/two")])).code, 0);
    // Two hello instances, one of two, and the stem cell refilled in the background.
    let orphans: string[] = [];
    for (let i = 0; i < 200 && orphans.length < 4; i++) {
      orphans = (await leftovers(d.stateDir)).containers;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(orphans.length, 4, `containers: ${orphans.join(" ")}`);
    await d.stop("SIGKILL");
    assert.equal((await leftovers(d.stateDir)).containers.length, 4, "SIGKILL leaves containers running");

    d = await startDaemonProcess(config, { dir: d.dir });
    const now = await leftovers(d.stateDir, orphans);
    assert.deepEqual(now.cgroups, [], "cgroups of the old run are gone");
    for (const id of orphans) assert.ok(!now.containers.includes(id), `old container ${id} was removed`);
    assert.equal((await get(d, "/hello")).text, "hello, world\n");
    assert.equal((await get(d, "/two")).text, "this is two\n", "a function deployed by the CLI comes back too");
    const running = (await leftovers(d.stateDir)).containers;
    await d.stop("SIGTERM");
    assert.deepEqual(await leftovers(d.stateDir, [...orphans, ...running]), { containers: [], instanceDirs: [], cgroups: [], mounts: [] });
    d = undefined;
  });
});
