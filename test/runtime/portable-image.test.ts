/**
 * A function image serves without fnrun: `fnrun image save` → skopeo → `umoci unpack` (which
 * writes the runtime spec from the image config alone) → `runc run` with PORT set, in a network
 * namespace this test creates, no fnrun daemon involved. Its answers are compared with the same
 * function served by a real fnrun daemon; it drains on SIGTERM; the same image runs one
 * scheduled() and exits with its outcome.
 *
 * The spec umoci generates is changed only where a test must: no terminal (stdio goes to a
 * log file), the rootfs read-only (as fnrun and a cautious Kubernetes pod run it), the network
 * namespace made here, a cgroup path this test can remove, and the env a user would give.
 * The image's User (1000:1000), WorkingDir, Cmd and Env are umoci's reading of the config.
 * No /tmp tmpfs: the bootstrap writes nothing outside fnrun (only a stem cell's warm-up does).
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { cgroupDirsOf, removeCgroups, removeEmptyParents } from "../../runtime/cgroup.ts";
import type { DaemonProcess } from "../helpers/daemon-process.ts";
import {
  assertParityCasesMeanSomething, comparable, curl, CURL_COULDNT_CONNECT, CurlError, header, PARITY_CASES, PROBE_DIR,
  saveImage, startProbeDaemon, type Answer, type CurlRequest,
} from "../helpers/portable-image.ts";

const run = promisify(execFile);
const TAG = randomBytes(3).toString("hex");

/** An unpacked image: umoci's rootfs (shared, read-only) and the spec it generated from the image config. */
interface Unpacked {
  rootfs: string;
  spec: any;
}

/** One `runc run` in the foreground: runc's exit code is the container's. */
interface Container {
  id: string;
  child: ChildProcess;
  exited: Promise<number>;
  log(): Promise<string>;
}

describe("a saved function image run by runc alone (no fnrun daemon)", { timeout: 600_000 }, () => {
  let d: DaemonProcess;
  let dir: string;
  let runcRoot: string;
  const netns = `fnrun-test-${TAG}`;
  let probe: Unpacked;
  let hello: Unpacked;
  const containers: Container[] = [];
  let seq = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fnrun-portable-"));
    runcRoot = join(dir, "runc");
    d = await startProbeDaemon();
    probe = await saveAndUnpack("probe");
    hello = await saveAndUnpack("hello");
    await run("ip", ["netns", "add", netns]);
    await run("ip", ["netns", "exec", netns, "ip", "link", "set", "lo", "up"]);
  });

  after(async () => {
    for (const c of containers) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        await run("runc", ["--root", runcRoot, "kill", c.id, "KILL"]).catch(() => {});
        await Promise.race([c.exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      await run("runc", ["--root", runcRoot, "delete", "-f", c.id]).catch(() => {});
      await removeCgroups(c.id).catch(() => {});
    }
    await removeEmptyParents().catch(() => {});
    await run("ip", ["netns", "del", netns]).catch(() => {});
    await d?.stop("SIGTERM");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** `fnrun image save NAME --format oci` → `skopeo copy oci-archive: oci:` → `umoci unpack`. */
  async function saveAndUnpack(name: string): Promise<Unpacked> {
    const archive = join(dir, `${name}.tar`);
    await saveImage(d, name, archive, "oci");
    const layout = join(dir, `${name}-oci`);
    await run("skopeo", ["copy", "--quiet", `oci-archive:${archive}`, `oci:${layout}:${name}`]);
    const bundle = join(dir, `${name}-bundle`);
    await run("umoci", ["unpack", "--image", `${layout}:${name}`, bundle]);
    return { rootfs: join(bundle, "rootfs"), spec: JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) };
  }

  /** Starts `runc run` of `image` with `env` added to the spec's (and `args` after its Cmd), in our netns when `netns`. */
  async function start(image: Unpacked, o: { env?: string[]; args?: string[]; netns?: boolean } = {}): Promise<Container> {
    const id = `pt-${TAG}-${seq++}`;
    const bundle = join(dir, id);
    await mkdir(bundle);
    const spec = structuredClone(image.spec);
    spec.root = { path: image.rootfs, readonly: true };
    spec.process.terminal = false;
    spec.process.env = [...spec.process.env, ...(o.env ?? [])];
    spec.process.args = [...spec.process.args, ...(o.args ?? [])];
    if (o.netns) spec.linux.namespaces = spec.linux.namespaces.map((n: { type: string }) => (n.type === "network" ? { type: "network", path: `/var/run/netns/${netns}` } : n));
    spec.linux.cgroupsPath = `/fnrun/${id}`;
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const logPath = join(bundle, "log");
    // A file, not a pipe: the container's writes neither block nor fail whoever reads (FACTS.md).
    const fd = openSync(logPath, "a");
    const child = spawn("runc", ["--root", runcRoot, "run", "--bundle", bundle, id], { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    const exited = new Promise<number>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : -2))));
    const c = { id, child, exited, log: () => readFile(logPath, "utf8") };
    containers.push(c);
    return c;
  }

  const inNetns = ["ip", "netns", "exec", netns];
  const fnrunGet = (req: CurlRequest) => curl([], d.url, req);

  /** Waits for the container's first 200 on /__fnrun/health from inside the netns; fails with its log if it exits first. */
  async function ready(c: Container, port: number): Promise<number> {
    const t0 = performance.now();
    let exitCode: number | undefined;
    void c.exited.then((code) => (exitCode = code));
    for (;;) {
      if (exitCode !== undefined) assert.fail(`container ${c.id} exited (${exitCode}) before serving:\n${await c.log()}`);
      const a = await curl(inNetns, `http://127.0.0.1:${port}`, { path: "/__fnrun/health" }, 2).catch((err: CurlError) => err);
      if (!(a instanceof Error) && a.status === 200) return performance.now() - t0;
      if (performance.now() - t0 > 20_000) assert.fail(`container ${c.id} not serving on ${port} after 20 s:\n${await c.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test("the saved archive's config says how to run it anywhere (skopeo inspect --config), and the Dockerfile says the same", async () => {
    const archive = join(dir, "probe.tar");
    const { stdout } = await run("skopeo", ["inspect", "--config", `oci-archive:${archive}`]);
    const c = JSON.parse(stdout).config;
    assert.deepEqual(c.ExposedPorts, { "8080/tcp": {} });
    assert.equal(c.User, "1000:1000");
    assert.equal(c.StopSignal, "SIGTERM");
    assert.equal(c.WorkingDir, "/app");
    assert.deepEqual(c.Env, ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "FNRUN_ENTRY=/app/index.mjs"]);
    assert.deepEqual(c.Cmd, ["/usr/local/bin/node", "/fnrun/bootstrap.mjs"]);
    // umoci read the same config into the spec it generated.
    assert.deepEqual([probe.spec.process.user.uid, probe.spec.process.user.gid, probe.spec.process.cwd], [1000, 1000, "/app"]);
    assert.equal(probe.spec.annotations["org.opencontainers.image.exposedPorts"], "8080/tcp");
    assert.equal(probe.spec.annotations["org.opencontainers.image.stopSignal"], "SIGTERM");
    const dockerfile = await d.cli(["build", PROBE_DIR, "--dockerfile"]);
    assert.equal(dockerfile.code, 0, dockerfile.stderr);
    assert.match(dockerfile.stdout, /^EXPOSE 8080$/m);
    assert.match(dockerfile.stdout, /^STOPSIGNAL SIGTERM$/m);
    assert.match(dockerfile.stdout, /^USER 1000:1000$/m);
  });

  describe("serving with PORT set, in a network namespace of its own", () => {
    const port = 18000 + Math.floor(Math.random() * 1000);
    let c: Container;
    const standaloneGet = (req: CurlRequest, maxTimeS?: number) => curl(inNetns, `http://127.0.0.1:${port}`, req, maxTimeS);

    before(async () => {
      c = await start(probe, { env: [`PORT=${port}`, "GREETING=hi"], netns: true });
      const ms = await ready(c, port);
      console.log(`# runc run → first 200 of the standalone bootstrap (TCP, in a netns): ${ms.toFixed(0)} ms`);
    });

    test("logs one plain line saying where it listens", async () => {
      assert.match(await c.log(), new RegExp(`^fnrun: listening on http://0\\.0\\.0\\.0:${port} \\(function /app/index\\.mjs\\)$`, "m"));
    });

    test("answers every parity case exactly as fnrun's gateway does (status, body, function headers)", async () => {
      const viaFnrun: Answer[] = [];
      for (const req of PARITY_CASES) {
        const [a, b] = [await fnrunGet(req), await standaloneGet(req)];
        viaFnrun.push(a);
        assert.deepEqual(comparable(b), comparable(a), `${req.method ?? "GET"} ${req.path}`);
        assert.ok(header(b, "date"), `${req.path}: a Date header`);
        assert.equal(header(b, "x-fnrun-error"), undefined);
        assert.equal(header(b, "x-fnrun-start"), undefined, "no fnrun report without fnrun");
      }
      assertParityCasesMeanSomething(viaFnrun);
    });

    test("GET /__fnrun/health is 200 {ok:true} (fnrun's gateway refuses the path: it is the container probe)", async () => {
      const a = await standaloneGet({ path: "/__fnrun/health" });
      assert.deepEqual([a.status, header(a, "content-type"), a.body], [200, "application/json", '{"ok":true}']);
      const viaFnrun = await fnrunGet({ path: "/__fnrun/health" });
      assert.equal(viaFnrun.status, 400);
      const post = await standaloneGet({ method: "POST", path: "/__fnrun/health" });
      assert.equal(post.status, 400, "only GET (and HEAD) is the probe");
    });

    test("clients' x-fnrun-* headers are dropped; the bootstrap gives each request an invocation id; env is the process env but the image's", async () => {
      const forged = { "x-fnrun-invocation-id": "forged-1", "x-fnrun-deadline": "1", "x-other": "kept" };
      const a = JSON.parse((await standaloneGet({ path: "/probe/ctx", headers: forged })).body);
      const b = JSON.parse((await standaloneGet({ path: "/probe/ctx", headers: forged })).body);
      assert.deepEqual(a.xHeaders, ["x-other"]);
      assert.match(a.invocationId, /^[0-9a-f]{8}-[0-9a-z]+$/);
      assert.notEqual(a.invocationId, b.invocationId);
      assert.equal(a.deadline, null, "no deadline: timeouts are the platform's");
      // umoci's spec adds TERM; PATH, NODE_ENV, PORT, HOME and FNRUN_* are the image's or fnrun's.
      assert.deepEqual(a.envKeys, ["GREETING", "TERM"]);
      // Through fnrun: the gateway's id and deadline, and only the configured env.
      const f = JSON.parse((await fnrunGet({ path: "/probe/ctx", headers: forged })).body);
      assert.deepEqual(f.xHeaders, ["x-other"]);
      assert.notEqual(f.invocationId, "forged-1");
      assert.equal(typeof f.deadline, "number");
      assert.deepEqual(f.envKeys, ["GREETING"]);
    });

    test("its log is the function's lines as written: no invocation markers", async () => {
      const log = await c.log();
      assert.match(log, /^probe: hello$/m);
      assert.match(log, /^fnrun: function threw: Error: probe failed on purpose$/m);
      assert.doesNotMatch(log, /[\u001e\u001f]/);
    });

    test("SIGTERM: new connections refused at once, the request in flight still gets its 200, then exit 0", async () => {
      const slow = standaloneGet({ path: "/probe/slow?ms=3000" }, 30);
      let slowDone = false;
      void slow.then(() => (slowDone = true), () => (slowDone = true));
      // In flight once the function has logged its start.
      for (let i = 0; !/probe: slow request started/.test(await c.log()); i++) {
        if (i > 500) assert.fail(`the slow request never started:\n${await c.log()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await run("runc", ["--root", runcRoot, "kill", c.id, "TERM"]);
      let refused: CurlError | undefined;
      for (let i = 0; !refused; i++) {
        const r = await standaloneGet({ path: "/probe" }, 2).catch((err: CurlError) => err);
        if (r instanceof CurlError && r.exitCode === CURL_COULDNT_CONNECT) refused = r;
        else if (i > 200) assert.fail(`connections still accepted after SIGTERM: ${r instanceof Error ? r.message : r.status}`);
        else await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(slowDone, false, "refused while the slow request was still in flight (the container was draining, not gone)");
      assert.equal(c.child.exitCode, null, "the container still ran while refusing");
      const answer = await slow;
      assert.deepEqual([answer.status, answer.body], [200, "slow done\n"]);
      assert.equal(header(answer, "connection"), "close", "a draining server closes the connection after the answer");
      assert.equal(await c.exited, 0);
      const log = await c.log();
      assert.match(log, /^fnrun: SIGTERM: stopped accepting connections; draining 1 request\(s\) in flight \(up to 25s, FNRUN_DRAIN_TIMEOUT\)$/m);
      assert.match(log, /^probe: slow request done$/m);
      assert.match(log, /^fnrun: drained; exiting$/m);
      assert.deepEqual(cgroupDirsOf(c.id).filter((p) => existsSync(p)), [], "runc removed the container's cgroups");
    });
  });

  test("PORT unset: it listens on 8080, the image's EXPOSE", async () => {
    const c = await start(probe, { netns: true });
    await ready(c, 8080);
    assert.equal((await curl(inNetns, "http://127.0.0.1:8080", { path: "/probe" })).body, "hello from probe\n");
    assert.match(await c.log(), /^fnrun: listening on http:\/\/0\.0\.0\.0:8080 /m);
    await run("runc", ["--root", runcRoot, "kill", c.id, "TERM"]);
    assert.equal(await c.exited, 0, "nothing in flight: drained at once");
  });

  test("a function that fails to import: the error in the log and exit 1 (what docker ps and CrashLoopBackOff show)", async () => {
    const c = await start(probe, { env: ["FNRUN_ENTRY=/app/missing.mjs"] });
    assert.equal(await c.exited, 1);
    const log = await c.log();
    assert.match(log, /^fnrun: function failed to initialize: \/app\/missing\.mjs: Error \[ERR_MODULE_NOT_FOUND\]: Cannot find module '\/app\/missing\.mjs'/m);
    assert.doesNotMatch(log, /listening/);
  });

  test("a bad PORT or FNRUN_DRAIN_TIMEOUT: exit 1 naming the variable and the fix", async () => {
    const port = await start(probe, { env: ["PORT=http"] });
    assert.equal(await port.exited, 1);
    assert.match(await port.log(), /^fnrun: PORT must be a TCP port number \(0-65535\), got "http": set PORT=8080 or leave it unset$/m);
    const drain = await start(probe, { env: ["FNRUN_DRAIN_TIMEOUT=soon"] });
    assert.equal(await drain.exited, 1);
    assert.match(await drain.log(), /^fnrun: FNRUN_DRAIN_TIMEOUT must be a duration like "25s", "500ms", "1m" or a number of seconds, got "soon"$/m);
  });

  describe("FNRUN_RUN=scheduled: one scheduled() run, then exit with its outcome", () => {
    test("exit 0 when scheduled() resolved, after its waitUntil work; the event has FNRUN_CRON", async () => {
      const c = await start(probe, { env: ["FNRUN_RUN=scheduled", "FNRUN_CRON=0 3 * * *"] });
      assert.equal(await c.exited, 0, await c.log());
      const log = await c.log();
      assert.match(log, /^probe: scheduled cron="0 3 \* \* \*" scheduledTime=number invocation=yes$/m);
      assert.match(log, /^probe: waitUntil work done$/m);
      assert.match(log, /^fnrun: scheduled run resolved in [\d.]+ ms \(exit 0\)$/m);
      assert.ok(log.indexOf("waitUntil work done") < log.indexOf("scheduled run resolved"), "waited for waitUntil");
      assert.doesNotMatch(log, /listening/, "no listener in this mode");
    });

    test("the first argument `scheduled` does the same (image Cmd + the argument)", async () => {
      const c = await start(probe, { args: ["scheduled"] });
      assert.equal(await c.exited, 0, await c.log());
      assert.match(await c.log(), /^probe: scheduled cron="" /m);
    });

    test("exit 1 when scheduled() threw, with the error", async () => {
      const c = await start(probe, { env: ["FNRUN_RUN=scheduled", "PROBE_FAIL=1"] });
      assert.equal(await c.exited, 1);
      const log = await c.log();
      assert.match(log, /^fnrun: scheduled\(\) threw: Error: scheduled failed on purpose$/m);
      assert.match(log, /^fnrun: scheduled run failed after [\d.]+ ms \(exit 1\)$/m);
    });

    test("exit 2 when the module has no scheduled() or does not import, saying so", async () => {
      const none = await start(hello, { env: ["FNRUN_RUN=scheduled"] });
      assert.equal(await none.exited, 2);
      assert.match(await none.log(), /^fnrun: scheduled run: nothing ran: \/app\/index\.mjs exports no scheduled\(event, env, ctx\) handler; export one from the module's default object, or run the image without FNRUN_RUN to serve requests$/m);
      const broken = await start(probe, { env: ["FNRUN_RUN=scheduled", "FNRUN_ENTRY=/app/missing.mjs"] });
      assert.equal(await broken.exited, 2);
      assert.match(await broken.log(), /^fnrun: scheduled run: nothing ran: \/app\/missing\.mjs failed to import \(Cannot find module '\/app\/missing\.mjs'/m);
      const unknown = await start(probe, { env: ["FNRUN_RUN=cron"] });
      assert.equal(await unknown.exited, 2);
      assert.match(await unknown.log(), /^fnrun: unknown FNRUN_RUN `cron`: expected `scheduled`/m);
    });
  });
});
