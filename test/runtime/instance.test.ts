import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, readdir, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { cgroupDirsOf, cgroupMode, cgroupPathsOf, readLimits, removeEmptyParents, writeLimits } from "../../runtime/cgroup.ts";
import { cleanupOrphans, HOST_ID_BASE, Instance, type InstanceOptions } from "../../runtime/instance.ts";
import { Runc } from "../../runtime/runc.ts";
import { imageFor, makeFixture } from "./rootfs-fixture.ts";

// runc makes the /fnrun parent cgroups for this file's containers; nothing else here removes them.
after(() => removeEmptyParents());

const MiB = 1024 * 1024;
const LIMITS = { memoryBytes: 96 * MiB, cpu: 0.5, pids: 77, tmpBytes: 8 * MiB };

describe("Instance (real runc)", async () => {
  const fx = await makeFixture({
    "index.mjs": await readFile(new URL("../fixtures/runtime/probe.mjs", import.meta.url), "utf8"),
    "plain.mjs": `export default async (request) => new Response("plain " + new URL(request.url).pathname);`,
    "broken.mjs": `throw new Error("bad import");`,
    "exits.mjs": `console.error("dying now"); process.exit(3);`,
    "hang.mjs": `await new Promise(() => setInterval(() => {}, 1000));`,
  });
  const runc = new Runc({ root: join(fx.stateDir, "runc") });
  const logFile = join(fx.stateDir, "probe.log");
  const started: Instance[] = [];
  let seq = 0;

  const options = (app = "index.mjs", extra: Partial<InstanceOptions> = {}): InstanceOptions => ({
    id: `t${process.pid}-${seq++}`,
    stateDir: fx.stateDir,
    rootfs: fx.rootfs,
    image: imageFor(fx.image, app),
    env: { FOO: "bar", SECRET_TOKEN: "s3cr3t" },
    limits: LIMITS,
    logFile,
    runc,
    ...extra,
  });
  const start = async (app?: string, extra?: Partial<InstanceOptions>) => {
    const inst = await Instance.start(options(app, extra));
    started.push(inst);
    return inst;
  };

  after(async () => {
    await Promise.allSettled(started.map((i) => i.stop()));
    await cleanupOrphans(fx.stateDir, runc).catch(() => {});
    await rm(fx.root, { recursive: true, force: true });
  });

  /** Asserts that nothing of container `id` is left: runc state, cgroup dirs, instance dir. */
  async function assertGone(id: string) {
    assert.deepEqual((await runc.list()).filter((c) => c.id === id), [], "runc state");
    assert.deepEqual(cgroupDirsOf(id).filter((d) => existsSync(d)), [], "cgroup dirs");
    assert.equal(existsSync(Instance.dirOf(fx.stateDir, id)), false, "instance dir");
  }

  const inst = await start();

  test("its own pid, mount, net, ipc, uts, user and cgroup namespaces", async () => {
    for (const ns of ["pid", "mnt", "net", "ipc", "uts", "user", "cgroup"]) {
      const mine = await readlink(`/proc/self/ns/${ns}`);
      const its = await readlink(`/proc/${inst.pid}/ns/${ns}`);
      assert.notEqual(its, mine, `${ns} namespace`);
    }
  });

  test("the network namespace has loopback only", async () => {
    const devices = (await readFile(`/proc/${inst.pid}/net/dev`, "utf8")).split("\n").slice(2).filter(Boolean).map((l) => l.split(":")[0].trim());
    assert.deepEqual(devices, ["lo"]);
  });

  test("cgroup limits read back from the kernel", async () => {
    const limits = await readLimits(inst.pid);
    assert.deepEqual(limits, { memoryBytes: LIMITS.memoryBytes, cpuQuota: 50_000, cpuPeriod: 100_000, pids: LIMITS.pids });
    const paths = await cgroupPathsOf(inst.pid);
    assert.ok(paths.memory.endsWith(`/fnrun/${inst.id}`), paths.memory);
    if (cgroupMode() !== "v2") {
      assert.equal(Number(await readFile(join(paths.memory, "memory.memsw.limit_in_bytes"), "utf8")), LIMITS.memoryBytes, "no swap beyond the limit");
    }
  });

  test("writeLimits raises and lowers limits in place (v1: memsw kept >= memory at every step)", async () => {
    const i = await start("plain.mjs");
    await writeLimits(i.pid, { memoryBytes: 256 * MiB, cpu: 1.5, pids: 200 });
    assert.deepEqual(await readLimits(i.pid), { memoryBytes: 256 * MiB, cpuQuota: 150_000, cpuPeriod: 100_000, pids: 200 });
    await writeLimits(i.pid, { memoryBytes: 48 * MiB, cpu: 0.25, pids: 32 });
    assert.deepEqual(await readLimits(i.pid), { memoryBytes: 48 * MiB, cpuQuota: 25_000, cpuPeriod: 100_000, pids: 32 });
    if (cgroupMode() !== "v2") {
      const { memory } = await cgroupPathsOf(i.pid);
      assert.equal(Number(await readFile(join(memory, "memory.memsw.limit_in_bytes"), "utf8")), 48 * MiB);
    }
    const res = await i.dispatcher.request({ path: "/", method: "GET" });
    assert.equal(res.statusCode, 200, "still serving after the resize");
    await res.body.dump();
    await i.stop();
  });

  test("runc update changes the same kernel limits", async () => {
    const i = await start("plain.mjs");
    await runc.update(i.id, { memoryBytes: 128 * MiB, cpu: 1, pids: 90 });
    assert.deepEqual(await readLimits(i.pid), { memoryBytes: 128 * MiB, cpuQuota: 100_000, cpuPeriod: 100_000, pids: 90 });
    assert.equal((await runc.state(i.id)).status, "running");
    await i.stop();
  });

  test("unprivileged on the host: uid 101000, no capabilities, no_new_privs, seccomp", async () => {
    const status = await readFile(`/proc/${inst.pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)![1].split(/\s+/);
    assert.deepEqual(field("Uid"), Array(4).fill(String(HOST_ID_BASE + 1000)));
    assert.deepEqual(field("Gid"), Array(4).fill(String(HOST_ID_BASE + 1000)));
    for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) assert.deepEqual(field(set), ["0000000000000000"], set);
    assert.deepEqual(field("NoNewPrivs"), ["1"]);
    assert.deepEqual(field("Seccomp"), ["2"]);
  });

  test("no descriptor of the daemon leaks into the container", async () => {
    const targets = async (pid: number | "self") => {
      const fds = await readdir(`/proc/${pid}/fd`);
      return new Map(await Promise.all(fds.map(async (fd) => [fd, await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")] as const)));
    };
    const its = await targets(inst.pid);
    assert.equal(its.get("0"), "/dev/null");
    assert.equal(its.get("1"), logFile);
    assert.equal(its.get("2"), logFile);
    // Pipes and sockets are named by inode (shared = leaked); anon inodes all share one name.
    const mine = new Set([...(await targets("self")).values()].filter((t) => t !== "/dev/null" && t !== logFile && !t.startsWith("anon_inode:")));
    for (const [fd, target] of its) assert.ok(!mine.has(target), `container fd ${fd} -> ${target} is shared with the host process`);
  });

  test("a request over the unix socket sees env as argument and in process.env, without x-fnrun-* headers", async () => {
    const deadline = Date.now() + 30_000;
    const res = await inst.dispatcher.request({
      path: "/env?q=1",
      method: "GET",
      headers: { host: "example.test", "x-fnrun-deadline": String(deadline), "x-fnrun-invocation-id": "inv-1", "x-custom": "yes" },
    });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as Record<string, any>;
    assert.deepEqual(body.env, { FOO: "bar", SECRET_TOKEN: "s3cr3t" });
    assert.equal(body.processFoo, "bar");
    assert.equal(body.url, "http://example.test/env?q=1");
    assert.equal(body.deadline, deadline);
    assert.equal(body.headers["x-custom"], "yes");
    assert.ok(!Object.keys(body.headers).some((h) => h.startsWith("x-fnrun-")), "x-fnrun-* stripped");
    // The gateway's one header carries both: `x-fnrun-ctx: <deadline> <invocation id>`.
    const one = await inst.dispatcher.request({ path: "/env", method: "GET", headers: { host: "example.test", "x-fnrun-ctx": `${deadline + 1} inv-2` } });
    const b2 = (await one.body.json()) as Record<string, any>;
    assert.equal(b2.deadline, deadline + 1);
    assert.ok(!Object.keys(b2.headers).some((h) => h.startsWith("x-fnrun-")), "x-fnrun-ctx stripped");
  });

  test("/tmp is writable, the rootfs is not", async () => {
    const res = await inst.dispatcher.request({ path: "/fs", method: "GET" });
    assert.deepEqual(await res.body.json(), { tmp: "written", root: "EROFS" });
  });

  test("console.log lands in the log file", async () => {
    const marker = randomBytes(6).toString("hex");
    const res = await inst.dispatcher.request({ path: `/log?marker=${marker}`, method: "GET" });
    assert.equal(await res.body.text(), "logged");
    assert.match(await readFile(logFile, "utf8"), new RegExp(`^probe-log ${marker}$`, "m"));
  });

  test("a 12 MiB body streams through an echo function and back", async () => {
    const size = 12 * MiB;
    const chunk = randomBytes(64 * 1024);
    const sent = createHash("sha256");
    const body = Readable.from((function* () {
      for (let n = 0; n < size; n += chunk.length) { sent.update(chunk); yield chunk; }
    })());
    const res = await inst.dispatcher.request({ path: "/echo", method: "POST", body });
    assert.equal(res.statusCode, 200);
    const got = createHash("sha256");
    let bytes = 0;
    for await (const c of res.body) { got.update(c); bytes += c.length; }
    assert.equal(bytes, size);
    assert.equal(got.digest("hex"), sent.digest("hex"));
  });

  test("a function that throws gives 502 x-fnrun-error: threw", async () => {
    const res = await inst.dispatcher.request({ path: "/throw", method: "GET" });
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers["x-fnrun-error"], "threw");
    assert.deepEqual(await res.body.json(), { error: "function threw", message: "boom" });
    const res2 = await inst.dispatcher.request({ path: "/not-a-response", method: "GET" });
    assert.equal(res2.statusCode, 502);
    assert.deepEqual(await res2.body.json(), { error: "function threw", message: "function returned string, not a Response" });
  });

  test("a rejected waitUntil promise is logged, the instance keeps serving", async () => {
    const res = await inst.dispatcher.request({ path: "/wait-until", method: "GET" });
    assert.equal(await res.body.text(), "ok");
    const again = await inst.dispatcher.request({ path: "/env", method: "GET" });
    assert.equal(again.statusCode, 200);
    await again.body.dump();
    assert.match(await readFile(logFile, "utf8"), /waitUntil promise rejected: Error: late failure/);
  });

  test("the kernel enforces the memory limit: a memory hog is OOM-killed, the request fails", async () => {
    const hog = await start();
    const { memory } = await cgroupPathsOf(hog.pid);
    await assert.rejects(hog.dispatcher.request({ path: "/memhog", method: "GET" }).then((r) => r.body.text()), (err: any) => {
      assert.equal(err.code, "UND_ERR_SOCKET"); // the gateway sees the socket close mid-request
      return true;
    });
    if (cgroupMode() !== "v2") assert.match(await readFile(join(memory, "memory.oom_control"), "utf8"), /^oom_kill [1-9]/m);
    await hog.stop();
    await assertGone(hog.id);
  });

  test("a plain default-export function works", async () => {
    const plain = await start("plain.mjs");
    const res = await plain.dispatcher.request({ path: "/p", method: "GET" });
    assert.equal(await res.body.text(), "plain /p");
    await plain.stop();
  });

  test("a bundle that throws at import: FNRUN_FUNCTION_INIT with the error, nothing left", async () => {
    const o = options("broken.mjs", { function: { name: "broken", revision: "r1" } });
    await assert.rejects(Instance.start(o), {
      code: "FNRUN_FUNCTION_INIT",
      message: `function \`broken\` failed to initialize in instance \`${o.id}\`: bad import`,
    });
    await assertGone(o.id);
    assert.match(await readFile(logFile, "utf8"), /fnrun: function failed to initialize: \/app\/broken\.mjs: Error: bad import/);
  });

  test("a container that exits before it is ready: FNRUN_INSTANCE_EXITED with the log tail, nothing left", async () => {
    const o = options("exits.mjs");
    await assert.rejects(Instance.start(o), (err: any) => {
      assert.equal(err.code, "FNRUN_INSTANCE_EXITED");
      assert.match(err.message, new RegExp(`^instance \`${o.id}\`: container exited before it became ready; last log lines:\\n`));
      assert.match(err.message, /dying now/);
      return true;
    });
    await assertGone(o.id);
  });

  test("a bundle that never finishes importing: FNRUN_INSTANCE_START_TIMEOUT, nothing left", async () => {
    const o = options("hang.mjs", { readyTimeoutMs: 1500 });
    await assert.rejects(Instance.start(o), {
      code: "FNRUN_INSTANCE_START_TIMEOUT",
      message: `instance \`${o.id}\`: not ready after 1500 ms (no socket at \`${join(Instance.dirOf(fx.stateDir, o.id), "sock", "fn.sock")}\`)`,
    });
    await assertGone(o.id);
  });

  test("stop() leaves no runc state, cgroup or dir, and is idempotent", async () => {
    const i = await start("plain.mjs");
    assert.ok(cgroupDirsOf(i.id).some((d) => existsSync(d)));
    await i.stop();
    await i.stop();
    await assertGone(i.id);
    // Dead: gone, or a zombie until the host's pid 1 reaps it (runc create leaves it no other parent).
    const stat = await readFile(`/proc/${i.pid}/stat`, "utf8").catch(() => "");
    assert.ok(stat === "" || /^\) [ZX] /.test(stat.slice(stat.lastIndexOf(")"))), `init process is gone: ${stat}`);
  });

  test("cleanupOrphans after a simulated crash removes every container, cgroup and dir", async () => {
    const ids: string[] = [];
    for (let n = 0; n < 2; n++) {
      const i = await Instance.start(options("plain.mjs"));
      await i.dispatcher.destroy(); // the crashed daemon's objects are simply gone
      ids.push(i.id);
    }
    const removed = await cleanupOrphans(fx.stateDir, runc);
    for (const id of ids) {
      assert.ok(removed.includes(id));
      await assertGone(id);
    }
  });

  test("timings: start → ready and stop (median of 10)", async (t) => {
    const ready: number[] = [];
    const first: number[] = [];
    const stop: number[] = [];
    for (let n = 0; n < 10; n++) {
      const t0 = performance.now();
      const i = await start("plain.mjs");
      ready.push(performance.now() - t0);
      const tr = performance.now();
      const res = await i.dispatcher.request({ path: "/", method: "GET" });
      await res.body.dump();
      first.push(performance.now() - tr);
      const t1 = performance.now();
      await i.stop();
      stop.push(performance.now() - t1);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    t.diagnostic(`Instance.start → ready: median ${median(ready).toFixed(1)} ms (min ${Math.min(...ready).toFixed(1)}, max ${Math.max(...ready).toFixed(1)})`);
    t.diagnostic(`first request after ready: median ${median(first).toFixed(1)} ms`);
    t.diagnostic(`Instance.stop: median ${median(stop).toFixed(1)} ms (min ${Math.min(...stop).toFixed(1)}, max ${Math.max(...stop).toFixed(1)})`);
  });
});
