/**
 * The adversarial suite: hostile functions deployed through the real daemon (`fnrun up`) and
 * invoked through the gateway. Each case checks three things: the client's answer (status and
 * a body that says what happened), the host unaffected (seen from the host: processes, disk,
 * cgroup and kernel counters, the daemon's memory), and a well-behaved function served after.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, readlink, rm, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { containersOf, FIX, get, hostProcessCount, oomKillsSinceBoot, pidOf, rssKiB, statusField } from "./helpers.ts";

const MiB = 1024 * 1024;
// initcrash loads until then, and throws at import after (a crash at module load of a deployed function).
const FAIL_AFTER = Date.now() + 45_000;

const CONFIG = `
[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 0

[defaults]
timeout = "30s"
memory = "128MiB"

[functions.good]
dir = "${FIX}/good"

[functions.forkbomb]
dir = "${FIX}/forkbomb"
pids = 24

[functions.membomb]
dir = "${FIX}/membomb"
memory = "64MiB"

[functions.spin]
dir = "${FIX}/spin"
timeout = "1s"

[functions.filltmp]
dir = "${FIX}/filltmp"
tmp = "64MiB"
memory = "256MiB"

[functions.fdbomb]
dir = "${FIX}/fdbomb"

[functions.flood]
dir = "${FIX}/flood"

[functions.network]
dir = "${FIX}/network"

[functions.kernel]
dir = "${FIX}/kernel"

[functions.peek]
dir = "${FIX}/peek"

[functions.peek-b]
dir = "${FIX}/peek-b"

[functions.sleeper]
dir = "${FIX}/sleeper"

[functions.initcrash]
dir = "${FIX}/initcrash"
env = { FAIL_AFTER = "${FAIL_AFTER}" }
`;

describe("hostile functions (real daemon, real runc)", { timeout: 900_000 }, () => {
  let d: DaemonProcess;

  before(async () => {
    d = await startDaemonProcess(CONFIG);
    const failed = /deploy (\S+) failed: (.*)/.exec(d.log());
    assert.equal(failed, null, `a fixture failed to deploy: ${failed?.[0]}`);
  });
  after(async () => {
    await d?.stop("SIGTERM");
    if (d) await rm(d.dir, { recursive: true, force: true });
  });

  /** (3) of every case: the well-behaved function answers normally. */
  async function wellBehavedServed() {
    const r = await get(d, "/good");
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /^good /);
  }

  test("worker_threads and child_process work inside a function under the seccomp profile", async () => {
    const r = await get(d, "/good?deep=1");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.worker, "42");
    assert.match(r.json.child, /^\d+$/);
  });

  test("kernel view of a function process: seccomp filter, no_new_privs, no capabilities, unprivileged host uid", async () => {
    const [c] = await containersOf(d, "good");
    assert.ok(c, "a container of `good` runs");
    assert.equal(await statusField(c.pid, "Seccomp"), "2", "seccomp filter mode");
    assert.equal(await statusField(c.pid, "NoNewPrivs"), "1");
    for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) assert.equal(await statusField(c.pid, set), "0000000000000000", set);
    assert.equal((await statusField(c.pid, "Uid"))!.split(/\s+/)[0], "101000", "container uid 1000 is host uid 101000");
  });

  test("the container holds no descriptor of the daemon's but stdio (CVE-2024-21626 class)", async () => {
    const [c] = await containersOf(d, "good");
    const fds = await readdir(`/proc/${c.pid}/fd`);
    const targets = await Promise.all(fds.map(async (fd) => `${fd} → ${await readlink(`/proc/${c.pid}/fd/${fd}`).catch(() => "?")}`));
    // node's own: pipes (stdio, libuv's signal pipe), sockets, epoll/eventfd/timerfd/inotify, /dev/null, urandom.
    const allowed = /^\d+ → (pipe:\[\d+\]|socket:\[\d+\]|anon_inode:.*|\/dev\/(null|urandom|random))$/;
    const foreign = targets.filter((t) => !allowed.test(t));
    assert.deepEqual(foreign, [], `unexpected descriptors: ${targets.join(", ")}`);
    for (const fd of ["0", "1", "2"]) assert.ok(fds.includes(fd), `stdio ${fd} present`);
  });

  test("fork bomb: the pids limit stops it with EAGAIN, the host's process count stays bounded", async () => {
    const before = await hostProcessCount();
    const r = await get(d, "/forkbomb");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.refused, "EAGAIN", `the kernel refused a process: ${r.text}`);
    const [c] = await containersOf(d, "forkbomb");
    const pidsDir = `/sys/fs/cgroup/pids/fnrun/${c.id}`;
    assert.ok(Number((await readFile(join(pidsDir, "pids.events"), "utf8")).match(/max (\d+)/)![1]) > 0, "pids.events counts refusals");
    assert.ok(Number(await readFile(join(pidsDir, "pids.current"), "utf8")) <= 24, "at most the limit of tasks");
    assert.ok((await hostProcessCount()) <= before + 24, "host process count bounded by the function's pids limit");
    await wellBehavedServed();
  });

  test("memory bomb (2× its limit): OOM-killed in its cgroup, 502 'function ran out of memory', replaced", async () => {
    const oomBefore = await oomKillsSinceBoot();
    const ok = await get(d, "/membomb?mib=8");
    assert.equal(ok.status, 200, ok.text);
    const r = await get(d, "/membomb?mib=128");
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.code, "FNRUN_FUNCTION_OOM");
    assert.equal(r.json.error, "function ran out of memory");
    assert.match(r.json.message, /function `membomb` ran out of memory/);
    assert.ok((await oomKillsSinceBoot()) > oomBefore, "the kernel counted an OOM kill");
    assert.equal(d.child.exitCode, null, "the daemon lives");
    const next = await get(d, "/membomb?mib=1");
    assert.equal(next.status, 200, "a new instance serves the function");
    await wellBehavedServed();
  });

  test("CPU spin past its timeout: 504, the instance is killed and not reused", async () => {
    const first = await get(d, "/spin");
    assert.equal(first.status, 200);
    const spinning = first.text;
    const r = await get(d, "/spin?spin=1");
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.code, "FNRUN_TIMEOUT");
    assert.match(r.json.message, /did not answer within its timeout of 1000 ms/);
    await until("the spinning container to be gone", async () => !(await containersOf(d, "spin")).some((c) => c.id === spinning));
    const next = await get(d, "/spin");
    assert.equal(next.status, 200);
    assert.notEqual(next.text, spinning, "another instance answers");
    await wellBehavedServed();
  });

  test("fill /tmp: ENOSPC inside at the tmpfs size, the host's disk untouched", async () => {
    const before = await statfs(d.stateDir);
    const r = await get(d, "/filltmp");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.error, "ENOSPC");
    assert.ok(r.json.written <= 64 * MiB && r.json.written >= 60 * MiB, `wrote ${r.json.written} bytes into a 64 MiB tmpfs`);
    const after = await statfs(d.stateDir);
    // Other suites may write to the same disk meanwhile: the bound is far below the 64 MiB written.
    const usedMiB = ((before.bfree - after.bfree) * before.bsize) / MiB;
    assert.ok(usedMiB < 16, `host filesystem used ${usedMiB.toFixed(1)} MiB more while the function wrote 64 MiB`);
    await wellBehavedServed();
  });

  test("open files past the limit: EMFILE inside, the daemon's descriptors unchanged", async () => {
    const daemonFds = (await readdir(`/proc/${d.child.pid}/fd`)).length;
    const r = await get(d, "/fdbomb");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.error, "EMFILE");
    assert.ok(r.json.opened < 4096, `opened ${r.json.opened} (RLIMIT_NOFILE 4096)`);
    assert.ok((await readdir(`/proc/${d.child.pid}/fd`)).length <= daemonFds + 8);
    await wellBehavedServed();
  });

  test("flood stdout: the log is cut at its bound and marked, the daemon's memory stays bounded", async () => {
    const rssBefore = await rssKiB(d.child.pid!);
    const r = await get(d, "/flood?mib=24", 120_000);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, "wrote 24 MiB");
    const log = join(d.stateDir, "logs", "flood.log");
    await until("the flood to reach the log", async () => (await stat(`${log}.1`).catch(() => null)) !== null);
    const size = (await stat(log)).size;
    assert.ok(size <= 10 * MiB + 64 * 1024, `flood.log is ${size} bytes (bound 10 MiB)`);
    assert.ok((await stat(`${log}.1`)).size <= 10 * MiB + 64 * 1024);
    await assert.rejects(stat(`${log}.2`), "no third file: older lines are discarded");
    const head = (await readFile(log, "utf8")).slice(0, 4096);
    assert.match(head, /\[fnrun: log truncated: earlier lines moved to flood\.log\.1, older ones discarded \(bound: \d+ bytes\)\]/);
    const rssAfter = await rssKiB(d.child.pid!);
    assert.ok(rssAfter - rssBefore < 128 * 1024, `daemon RSS grew ${((rssAfter - rssBefore) / 1024).toFixed(0)} MiB`);
    await wellBehavedServed();
  });

  test("network: an outside address, the host's loopback and the control socket are all unreachable", async () => {
    const port = new URL(d.url).port;
    const sock = join(d.stateDir, "fnrun.sock");
    const r = await get(d, `/network?port=${port}&sock=${encodeURIComponent(sock)}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.outside, "ENETUNREACH", "only loopback exists in the function's network namespace");
    assert.equal(r.json.hostLoopback, "ECONNREFUSED", "its 127.0.0.1 is its own, not the host's");
    assert.equal(r.json.controlSocket, "ENOENT", "the host's state dir is not in its mount namespace");
    assert.notEqual(r.json.dns, "RESOLVED");
    await wellBehavedServed();
  });

  test("kernel interfaces: /proc/kcore masked, sysrq and /proc/sys read-only, no priority or uid changes", async () => {
    const r = await get(d, "/kernel");
    assert.equal(r.status, 200, r.text);
    const j = r.json;
    // Where the host kernel has them: /proc/kcore masked by /dev/null (reads as empty), sysrq-trigger read-only.
    assert.equal(j.kcore, existsSync("/proc/kcore") ? "OK:0" : "ENOENT", "/proc/kcore gives nothing");
    assert.match(j.sysrq, existsSync("/proc/sysrq-trigger") ? /^(EROFS|EACCES|EPERM)$/ : /^ENOENT$/);
    assert.match(j.procSys, /^(EROFS|EACCES|EPERM)$/);
    for (const [path, got] of Object.entries(j.masked)) assert.equal(got, "OK:0", `${path} is masked`);
    for (const [path, got] of Object.entries(j.maskedDirs)) assert.match(String(got), /^(OK:0|EACCES)$/, `${path} is masked`);
    assert.match(j.setPriority, /^(EACCES|EPERM)$/);
    assert.equal(j.setuid, "EPERM");
    assert.match(j.rootWrite, /^(EROFS|EACCES)$/);
    assert.equal(j.devices, "ENOENT", "no block devices");
    assert.equal(j.uid, 1000);
    assert.equal(j.capEff, "0000000000000000");
    assert.equal(j.capBnd, "0000000000000000");
    assert.equal(j.seccomp, "2");
    assert.equal(j.noNewPrivs, "1");
    const pid = await pidOf(d, j.id);
    assert.equal(await statusField(pid, "Seccomp"), "2", "seen from the host too");
    assert.equal(await statusField(pid, "NoNewPrivs"), "1");
    await wellBehavedServed();
  });

  test("function A sees nothing of function B: processes, /tmp, socket", async () => {
    const marked = await get(d, "/peek-b?mark=b-was-here");
    assert.equal(marked.status, 200, marked.text);
    assert.deepEqual(marked.json.marked, ["b-was-here"]);
    const [b] = await containersOf(d, "peek-b");
    const bSock = join(d.stateDir, "instances", b.id, "sock", "fn.sock");
    const r = await get(d, `/peek?peek=1&sock=${encodeURIComponent(bSock)}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.procs.length <= 3, `A sees only its own processes: ${JSON.stringify(r.json.procs)}`);
    assert.ok(r.json.procs.every((p: string) => !p.includes("peek-b")));
    assert.deepEqual(r.json.tmp, [], "A's /tmp is its own, empty");
    assert.deepEqual(r.json.runFnrun, ["fn.sock"], "A's socket dir holds only its own socket");
    assert.equal(r.json.socket, "ENOENT", "B's socket path on the host does not exist for A");
    await wellBehavedServed();
  });

  test("killed from the host mid-request (kill -9): 502, the instance is replaced, the next request is fine", async () => {
    const pending = get(d, "/sleeper?ms=20000");
    const [c] = await until("a sleeper container", async () => {
      const cs = await containersOf(d, "sleeper");
      return cs.length ? cs : null;
    });
    await new Promise((r) => setTimeout(r, 300)); // the request reached it
    process.kill(c.pid, "SIGKILL");
    const r = await pending;
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.code, "FNRUN_FUNCTION_CRASHED");
    assert.equal(r.json.error, "function crashed");
    const next = await get(d, "/sleeper?ms=1");
    assert.equal(next.status, 200);
    assert.notEqual(next.text, c.id, "a new instance answers");
    await wellBehavedServed();
  });

  test("a crash during module load: 502 'failed to initialize', not retried in a loop", async () => {
    assert.equal((await get(d, "/initcrash")).text, "loaded", "deployed while it still loaded");
    // From FAIL_AFTER on, every new instance throws at import.
    await new Promise((r) => setTimeout(r, Math.max(0, FAIL_AFTER - Date.now() + 100)));
    assert.equal((await get(d, "/initcrash?die=1")).status, 502, "the loaded instance dies");
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await get(d, "/initcrash"));
    for (const a of answers) {
      assert.equal(a.status, 502, a.text);
      assert.equal(a.json.error, "function failed to initialize");
      assert.match(a.json.message, /initcrash: boom at import/);
    }
    // Each container start logs the import error once: 10 requests within the 5 s back-off start at most 2.
    const log = await readFile(join(d.stateDir, "logs", "initcrash.log"), "utf8");
    const starts = log.split("\n").filter((l) => l.includes("Error: initcrash: boom at import")).length;
    assert.ok(starts >= 1 && starts <= 2, `container starts that failed: ${starts}`);
    assert.equal((await containersOf(d, "initcrash")).length, 0, "no container left running");
    await wellBehavedServed();
  });
});
