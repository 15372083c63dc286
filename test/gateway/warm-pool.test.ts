/**
 * The warm pool, end to end on a real daemon with real runc containers: scaling by
 * concurrency up to max_instances and never past it, no thundering herd on a cold start,
 * a bounded queue (429 + Retry-After), scale to zero after idle_timeout, the memory budget
 * (LRU eviction of idle instances, 503 when nothing idle is left), and stem cells
 * specialized to a function's limits as the kernel reports them.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { control, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { leftovers } from "../helpers/leftovers.ts";

const FIX = join(ROOT, "test/fixtures/pool");
const MiB = 1024 * 1024;

interface FnInfo {
  name: string;
  revision: string;
  instances: { instances: number; busy: number; idle: number; starting: number; queued: number; list: Array<{ id: string; inflight: number; kind: string }> } | null;
}

async function get(d: DaemonProcess, path: string) {
  const res = await request(`${d.url}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function fn(d: DaemonProcess, name: string): Promise<FnInfo> {
  const list = await control<FnInfo[]>(d, "GET", "/v1/functions");
  const found = list.find((f) => f.name === name);
  assert.ok(found, `function ${name} is listed`);
  return found;
}

/** Containers of this daemon whose id starts with `prefix`, as runc sees them. */
async function containers(d: DaemonProcess, prefix: string): Promise<number> {
  return (await leftovers(d.stateDir)).containers.filter((id) => id.startsWith(prefix)).length;
}

/**
 * The same contract with the gateway in the daemon (workers = 1) and in three worker
 * processes sharing the port (workers = 3, gateway/workers/): each new connection of a burst
 * goes to the next worker, and the limits must hold across them exactly.
 */
for (const workers of [1, 3]) describe(`scaling by concurrency, the queue and scale to zero (gateway workers = ${workers})`, { timeout: 300_000 }, () => {
  let d: DaemonProcess;
  before(async () => {
    d = await startDaemonProcess(`
[gateway]
listen = "127.0.0.1:0"
workers = ${workers}
[pool]
stem_cells = 0
idle_timeout = "1s"
[functions.burst]
dir = "${FIX}/sleepy"
concurrency = 2
max_instances = 3
[functions.herd]
dir = "${FIX}/other"
concurrency = 16
max_instances = 5
[functions.tiny]
dir = "${FIX}/third"
concurrency = 1
max_instances = 1
max_queue = 2
`);
  });
  after(() => d?.stop("SIGTERM"));

  test("a burst of 30 requests is served by at most max_instances containers, none failing", async () => {
    let maxSeen = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxSeen = Math.max(maxSeen, await containers(d, "burst-"));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answers = await Promise.all(Array.from({ length: 30 }, () => get(d, "/burst?ms=300")));
    sampling = false;
    await sampler;
    assert.deepEqual(answers.map((a) => a.status), Array(30).fill(200));
    const instances = new Set(answers.map((a) => a.text));
    assert.ok(instances.size <= 3, `answered by ${instances.size} instances`);
    assert.ok(instances.size >= 2, "busy instances made the pool scale out");
    assert.ok(maxSeen <= 3, `runc saw ${maxSeen} burst containers at once`);
  });

  test("idle instances above min_instances stop after idle_timeout (scale to zero)", async () => {
    await until("burst to scale to zero", async () => (await fn(d, "burst")).instances?.instances === 0);
    // The pool forgets an instance at once; runc's container goes a few ms later.
    await until("burst's containers to be removed", async () => (await containers(d, "burst-")) === 0);
    assert.equal((await get(d, "/burst")).status, 200, "and it starts again on the next request");
  });

  test("requests arriving during a cold start share it: one container, no thundering herd", async () => {
    await until("herd to scale to zero", async () => (await fn(d, "herd")).instances?.instances === 0);
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(d, "/herd?ms=50")));
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
    assert.equal(new Set(answers.map((a) => a.text)).size, 1, "all ten were served by one instance");
    assert.equal(await containers(d, "herd-"), 1);
    // With gateway workers the records reach the daemon in batches (every 50 ms): wait for all ten.
    const records = await until("the ten records", async () => {
      const r = await control<Array<{ kind: string }>>(d, "GET", "/v1/invocations?fn=herd&limit=10");
      return r.length === 10 ? r : null;
    }, 10_000);
    assert.deepEqual(records.map((r) => r.kind), Array(10).fill("cold"), "each waited for that one cold start");
  });

  test("past the queue, the gateway answers 429 with Retry-After", async () => {
    await get(d, "/tiny"); // an instance is up
    const answers = await Promise.all(Array.from({ length: 6 }, () => get(d, "/tiny?ms=1500")));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429], "one running, two queued, three refused");
    const refused = answers.find((a) => a.status === 429)!;
    assert.equal(refused.headers["retry-after"], "1");
    assert.equal(JSON.parse(refused.text).code, "FNRUN_QUEUE_FULL");
  });
});

describe("the memory budget", { timeout: 300_000 }, () => {
  let d: DaemonProcess;
  before(async () => {
    // Room for two 96 MiB instances, not three.
    d = await startDaemonProcess(`
[gateway]
listen = "127.0.0.1:0"
[pool]
stem_cells = 0
memory_budget = "200MiB"
[defaults]
memory = "96MiB"
max_instances = 2
[functions.a]
dir = "${FIX}/sleepy"
[functions.b]
dir = "${FIX}/other"
[functions.c]
dir = "${FIX}/third"
`);
    const failed = d.log().split("\n").filter((l) => /deploy \w+ failed/.test(l));
    assert.deepEqual(failed, [], `every function deploys under the budget; daemon log:\n${d.log()}`);
  });
  after(() => d?.stop("SIGTERM"));

  const running = async () => {
    const out: Record<string, number> = {};
    for (const name of ["a", "b", "c"]) out[name] = (await fn(d, name)).instances!.instances;
    return out;
  };

  test("a new instance stops the least recently used idle instance of another function", async () => {
    const budget = await control<{ memory: { budget: number; reserved: number } }>(d, "GET", "/v1/pool");
    assert.equal(budget.memory.budget, 200 * MiB);
    assert.ok(budget.memory.reserved <= 200 * MiB);
    // Use b, then c, then a: when a needs room, b is the least recently used.
    assert.equal((await get(d, "/b")).status, 200);
    assert.equal((await get(d, "/c")).status, 200);
    assert.equal((await get(d, "/a")).status, 200);
    assert.deepEqual(await running(), { a: 1, b: 0, c: 1 });
    assert.equal(await containers(d, "b-"), 0, "b's container is gone from runc");
    const pool = await control<{ memory: { reserved: number } }>(d, "GET", "/v1/pool");
    assert.equal(pool.memory.reserved, 192 * MiB);
  });

  test("when nothing idle can be stopped, the request gets 503 saying the host is at capacity", async () => {
    const busy = [get(d, "/a?ms=2500"), get(d, "/c?ms=2500")];
    await until("a and c to be busy", async () => (await fn(d, "a")).instances!.busy === 1 && (await fn(d, "c")).instances!.busy === 1);
    const refused = await get(d, "/b");
    assert.equal(refused.status, 503);
    const body = JSON.parse(refused.text);
    assert.equal(body.code, "FNRUN_AT_CAPACITY");
    assert.match(body.message, /host at capacity/);
    assert.deepEqual((await Promise.all(busy)).map((r) => r.status), [200, 200]);
    assert.equal((await get(d, "/b")).status, 200, "served once an instance is idle again");
    const sum = Object.values(await running()).reduce((x, y) => x + y, 0);
    assert.ok(sum <= 2, `${sum} instances hold at most the budget's two`);
  });
});

describe("stem cells", { timeout: 300_000 }, () => {
  let d: DaemonProcess;
  before(async () => {
    d = await startDaemonProcess(`
[gateway]
listen = "127.0.0.1:0"
[pool]
stem_cells = 1
idle_timeout = "1s"
[functions.lean]
dir = "${FIX}/sleepy"
memory = "48MiB"
cpu = 0.25
pids = 32
`);
  });
  after(() => d?.stop("SIGTERM"));

  test("a cold request specializes a stem cell to the function's limits, as the kernel reports them", async () => {
    await until("lean to scale to zero and a stem cell to be ready", async () => {
      const [f, pool] = await Promise.all([fn(d, "lean"), control(d, "GET", "/v1/pool")]);
      return f.instances?.instances === 0 && pool.stemCells.ready === 1;
    });
    const res = await get(d, "/lean");
    assert.equal(res.status, 200);
    const [record] = await control<Array<{ kind: string; specializeMs: number; startMs: number }>>(d, "GET", "/v1/invocations?fn=lean&limit=1");
    assert.equal(record.kind, "stem");
    // A stem start takes about a millisecond: its time is measured to a fraction of one, not in whole ones.
    const timing = /^queue;dur=(\d+\.\d\d), start;dur=(\d+\.\d\d), handler;dur=\d+\.\d\d$/.exec(String(res.headers["server-timing"]));
    assert.ok(timing, `server-timing: ${res.headers["server-timing"]}`);
    assert.equal(Number(timing[2]), Number(record.startMs.toFixed(2)));
    assert.ok(record.startMs > 0 && !Number.isInteger(record.startMs), `startMs ${record.startMs}`);
    const [instance] = (await fn(d, "lean")).instances!.list;
    assert.equal(instance.kind, "stem");
    const cg = (ctrl: string, file: string) => readFile(`/sys/fs/cgroup/${ctrl}/fnrun/${instance.id}/${file}`, "utf8").then((t) => t.trim());
    assert.equal(Number(await cg("memory", "memory.limit_in_bytes")), 48 * MiB);
    assert.equal(await cg("pids", "pids.max"), "32");
    assert.equal(await cg("cpu", "cpu.cfs_quota_us"), "25000");
    // Its output goes to the function's log, though the container was made before it knew its function.
    const logs = await d.cli(["logs", "lean"]);
    assert.match(logs.stdout, new RegExp(`${instance.id} stdout inv=\\S+ served by ${res.text}$`, "m"));
    await until("the stem cell to be refilled", async () => (await control(d, "GET", "/v1/pool")).stemCells.ready === 1);
  });

  test("a specialized instance never serves a newer revision", async () => {
    const before = (await get(d, "/lean")).text;
    const ids = new Set((await fn(d, "lean")).instances!.list.map((i) => i.id));
    const out = await d.cli(["deploy", join(FIX, "sleepy")]);
    assert.equal(out.code, 0, out.stderr);
    const after = await get(d, "/lean");
    assert.equal(after.status, 200);
    assert.notEqual(after.text, before, "the new revision answers from a new instance");
    await until("the old revision's instances to stop", async () => (await fn(d, "lean")).instances!.list.every((i) => !ids.has(i.id)));
  });
});
