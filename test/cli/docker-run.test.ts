/**
 * `fnrun image save` → `docker load` → `docker run -e PORT=…`: the image served by a Docker
 * engine, compared with the same function served by fnrun; `docker stop` drains; one-shot
 * scheduled runs give their exit codes to `docker run`. Skipped, with the reason, when no
 * engine answers `docker info`. An engine started with `--bridge=none` has no bridge network:
 * then the container joins the host's network (`--network host`) on a free port of 127.0.0.1's.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DaemonProcess } from "../helpers/daemon-process.ts";
import {
  assertParityCasesMeanSomething, comparable, curl, CURL_COULDNT_CONNECT, CurlError, header, PARITY_CASES,
  saveImage, startProbeDaemon, type Answer,
} from "../helpers/portable-image.ts";

const TAG = randomBytes(3).toString("hex");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `docker ARGS`, never throwing: the exit code is part of what the tests read. */
function docker(args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile("docker", args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const engine = await docker(["info", "--format", "{{.ServerVersion}}"], 20_000);
const skipReason = engine.code === 0 ? undefined : `no docker engine reachable: ${(engine.stderr.trim().split("\n").pop() ?? "").slice(0, 200) || `docker info exited ${engine.code}`}`;

if (skipReason) test("a saved function image run by docker", (t) => t.skip(skipReason));
else describe("a saved function image run by docker", { timeout: 600_000 }, () => {
  let d: DaemonProcess;
  let dir: string;
  const images: string[] = [];
  const names: string[] = [];
  let seq = 0;
  /** How containers reach the test: `-p 127.0.0.1::8080` on a bridge, else the host's network on a free port. */
  let bridge = false;

  before(async () => {
    console.log(`# docker engine ${engine.stdout.trim()}`);
    dir = await mkdtemp(join(tmpdir(), "fnrun-docker-"));
    d = await startProbeDaemon();
    for (const name of ["probe", "hello"]) {
      const archive = join(dir, `${name}.tar`);
      await saveImage(d, name, archive, "docker");
      const loaded = await docker(["load", "-i", archive]);
      assert.equal(loaded.code, 0, `docker load: ${loaded.stderr}`);
      const ref = /Loaded image: (\S+)/.exec(loaded.stdout)?.[1];
      assert.ok(ref, `docker load named no image: ${loaded.stdout}`);
      images.push(ref);
    }
    bridge = (await docker(["network", "inspect", "bridge"])).code === 0;
  });

  after(async () => {
    for (const n of names) await docker(["rm", "-f", n]);
    for (const i of images) await docker(["rmi", "-f", i]);
    await d?.stop("SIGTERM");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const [probeRef, helloRef] = [() => images[0], () => images[1]];
  const name = () => {
    const n = `fnrun-test-${TAG}-${seq++}`;
    names.push(n);
    return n;
  };

  /** `docker run -d` serving on a port of 127.0.0.1; resolves with its base URL once it answers its health probe. */
  async function serve(ref: string, env: string[] = []): Promise<{ name: string; base: string }> {
    const n = name();
    let port: number;
    const envArgs = env.flatMap((e) => ["-e", e]);
    if (bridge) {
      const r = await docker(["run", "-d", "--name", n, "-p", "127.0.0.1::8080", "-e", "PORT=8080", ...envArgs, ref]);
      assert.equal(r.code, 0, `docker run: ${r.stderr}`);
      port = Number(/:(\d+)\s*$/.exec((await docker(["port", n, "8080/tcp"])).stdout.split("\n")[0])?.[1]);
    } else {
      port = await freePort();
      const r = await docker(["run", "-d", "--name", n, "--network", "host", "-e", `PORT=${port}`, ...envArgs, ref]);
      assert.equal(r.code, 0, `docker run: ${r.stderr}`);
    }
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const a = await curl([], base, { path: "/__fnrun/health" }, 2).catch((err: Error) => err);
      if (!(a instanceof Error) && a.status === 200) break;
      if (i > 500) assert.fail(`container ${n} not serving on ${base}: ${(await docker(["logs", n])).stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { name: n, base };
  }

  /** `docker run` in the foreground: its exit code is the container's. */
  async function once(ref: string, env: string[]): Promise<Result> {
    return docker(["run", "--name", name(), ...env.flatMap((e) => ["-e", e]), ref]);
  }

  test("docker load keeps the config: ExposedPorts, User, StopSignal, Env", async () => {
    const r = await docker(["image", "inspect", "--format", "{{json .Config}}", probeRef()]);
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.deepEqual(c.ExposedPorts, { "8080/tcp": {} });
    assert.equal(c.User, "1000:1000");
    assert.equal(c.StopSignal, "SIGTERM");
    assert.ok(c.Env.includes("FNRUN_ENTRY=/app/index.mjs"));
  });

  describe("docker run -e PORT", () => {
    let c: { name: string; base: string };
    before(async () => {
      c = await serve(probeRef(), ["GREETING=hi", "FNRUN_ENV_KEYS=GREETING", "NOT_FOR_THE_FUNCTION=x"]);
    });

    test("answers every parity case exactly as fnrun's gateway does", async () => {
      const viaFnrun: Answer[] = [];
      for (const req of PARITY_CASES) {
        const [a, b] = [await curl([], d.url, req), await curl([], c.base, req)];
        viaFnrun.push(a);
        assert.deepEqual(comparable(b), comparable(a), `${req.method ?? "GET"} ${req.path}`);
        assert.ok(header(b, "date"));
      }
      assertParityCasesMeanSomething(viaFnrun);
      const health = await curl([], c.base, { path: "/__fnrun/health" });
      assert.deepEqual([health.status, health.body], [200, '{"ok":true}']);
    });

    test("FNRUN_ENV_KEYS set: env holds exactly those keys; invocation ids are the bootstrap's", async () => {
      const ctx = JSON.parse((await curl([], c.base, { path: "/probe/ctx", headers: { "x-fnrun-invocation-id": "forged" } })).body);
      assert.deepEqual(ctx.envKeys, ["GREETING"]);
      assert.match(ctx.invocationId, /^[0-9a-f]{8}-[0-9a-z]+$/);
    });

    test("docker logs shows plain lines; docker stop drains the request in flight and the container exits 0", async () => {
      const slow: Promise<Answer> = curl([], c.base, { path: "/probe/slow?ms=3000" }, 30);
      for (let i = 0; !/probe: slow request started/.test((await docker(["logs", c.name])).stdout); i++) {
        if (i > 300) assert.fail("the slow request never started");
        await new Promise((r) => setTimeout(r, 20));
      }
      const stopping = docker(["stop", "-t", "30", c.name]);
      let refused = false;
      for (let i = 0; !refused && i < 300; i++) {
        const r = await curl([], c.base, { path: "/probe" }, 2).catch((err: CurlError) => err);
        refused = r instanceof CurlError && r.exitCode === CURL_COULDNT_CONNECT;
        if (!refused) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(refused, "new connections refused while draining");
      const answer = await slow;
      assert.deepEqual([answer.status, answer.body], [200, "slow done\n"]);
      assert.equal((await stopping).code, 0);
      const state = JSON.parse((await docker(["inspect", "--format", "{{json .State}}", c.name])).stdout);
      assert.equal(state.ExitCode, 0, "drained, then exit 0");
      const logs = await docker(["logs", c.name]);
      assert.match(logs.stdout, /^fnrun: listening on http:\/\/0\.0\.0\.0:\d+ \(function \/app\/index\.mjs\)$/m);
      assert.match(logs.stdout, /^probe: slow request done$/m);
      assert.match(logs.stderr, /^fnrun: SIGTERM: stopped accepting connections; draining 1 request\(s\) in flight/m);
      assert.match(logs.stderr, /^fnrun: drained; exiting$/m);
      assert.doesNotMatch(logs.stdout + logs.stderr, /[\u001e\u001f]/);
    });
  });

  test("FNRUN_RUN=scheduled: docker run exits 0, 1 or 2 with the outcome", async () => {
    const ok = await once(probeRef(), ["FNRUN_RUN=scheduled", "FNRUN_CRON=@daily"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^probe: scheduled cron="@daily" /m);
    const threw = await once(probeRef(), ["FNRUN_RUN=scheduled", "PROBE_FAIL=1"]);
    assert.equal(threw.code, 1);
    assert.match(threw.stderr, /scheduled failed on purpose/);
    const none = await once(helloRef(), ["FNRUN_RUN=scheduled"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /exports no scheduled\(event, env, ctx\) handler/);
  });

  test("a function that fails to import: docker run exits 1 with the error in its output", async () => {
    const r = await once(probeRef(), ["FNRUN_ENTRY=/app/missing.mjs"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fnrun: function failed to initialize: \/app\/missing\.mjs: Error \[ERR_MODULE_NOT_FOUND\]/m);
  });

  test("run on a bridge with -p and no PORT (when the engine has one): the image's 8080", async (t) => {
    if (!bridge) return t.skip("the engine has no bridge network (dockerd --bridge=none): -p needs one");
    const n = name();
    const r = await docker(["run", "-d", "--name", n, "-p", "127.0.0.1::8080", probeRef()]);
    assert.equal(r.code, 0, r.stderr);
    const port = Number(/:(\d+)\s*$/.exec((await docker(["port", n, "8080/tcp"])).stdout.split("\n")[0])?.[1]);
    for (let i = 0; ; i++) {
      const a = await curl([], `http://127.0.0.1:${port}`, { path: "/probe" }, 2).catch((err: Error) => err);
      if (!(a instanceof Error)) {
        assert.equal(a.body, "hello from probe\n");
        break;
      }
      if (i > 500) assert.fail("not serving on the published 8080");
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
