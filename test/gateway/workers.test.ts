/**
 * Gateway workers ([gateway] workers = N): the public listener in N processes that share one
 * port, with one warm pool per function in the daemon. Checked on a real daemon with real
 * containers: a burst spread over every worker never puts more than `concurrency` requests
 * into one instance (the function counts them itself) nor starts more than max_instances
 * containers; the invocation log and the metrics count every worker's requests once; a worker
 * killed from the host is replaced and the leases it held come back, also the one its queued
 * request is given after it died. The scaling contract of the warm pool runs with workers = 3
 * too (warm-pool.test.ts).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Agent, request } from "undici";
import { control, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { leftovers } from "../helpers/leftovers.ts";

const run = promisify(execFile);
const COUNTER = `${ROOT}/test/fixtures/workers/counter`;

/** The gateway workers of a daemon: its child processes running the hidden worker command. */
async function workerPids(d: DaemonProcess): Promise<number[]> {
  const { stdout } = await run("ps", ["-o", "pid=,args=", "--ppid", String(d.child.pid)]);
  return stdout.split("\n").filter((l) => l.includes("__gateway-worker")).map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** The process id encoded in an invocation id (`<pid base36>-<time>-<seq>`, proxy.ts). */
const pidOf = (invocationId: string) => parseInt(invocationId.split("-")[0], 36);

describe("gateway workers", { timeout: 300_000 }, () => {
  let d: DaemonProcess;
  // One connection per request: each new connection goes to the next worker (round robin).
  const agent = new Agent({ pipelining: 0, connections: 64 });
  const get = async (path: string) => {
    const res = await request(`${d.url}${path}`, { dispatcher: agent, reset: true, headersTimeout: 60_000, bodyTimeout: 60_000 });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  before(async () => {
    d = await startDaemonProcess(`
[gateway]
listen = "127.0.0.1:0"
workers = 3
[pool]
stem_cells = 0
[functions.counter]
dir = "${COUNTER}"
concurrency = 2
max_instances = 3
max_queue = 100
`);
  });
  after(async () => {
    await d?.stop("SIGTERM");
    await agent.close();
  });

  test("three workers listen on one port", async () => {
    assert.match(d.log(), /gateway listening on http:\/\/127\.0\.0\.1:\d+","control":"[^"]+","workers":3/);
    assert.equal((await workerPids(d)).length, 3);
  });

  test("a burst through every worker: at most `concurrency` in one instance, at most max_instances containers", async () => {
    let maxContainers = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxContainers = Math.max(maxContainers, (await leftovers(d.stateDir)).containers.filter((c) => c.startsWith("counter-")).length);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answers = await Promise.all(Array.from({ length: 30 }, () => get("/counter?ms=300")));
    sampling = false;
    await sampler;
    assert.deepEqual(answers.map((a) => a.status), Array(30).fill(200));
    const most = Math.max(...answers.map((a) => Number(a.text.split(" ")[2])));
    assert.ok(most <= 2, `an instance had ${most} requests in flight at once; concurrency is 2`);
    assert.equal(most, 2, "instances were used up to their concurrency");
    const instances = new Set(answers.map((a) => a.text.split(" ")[0]));
    assert.ok(instances.size <= 3, `served by ${instances.size} instances`);
    assert.ok(maxContainers <= 3, `runc saw ${maxContainers} containers at once`);
    // One invocation log: the burst's records, made in different workers, are all in it.
    const records = await until("the burst's 30 records", async () => {
      const r = await control<Array<{ id: string; status: number }>>(d, "GET", "/v1/invocations?fn=counter&limit=1000");
      return r.length >= 30 ? r : null;
    }, 10_000);
    const pids = new Set(records.map((r) => pidOf(r.id)));
    const workers = new Set(await workerPids(d));
    assert.ok(pids.size >= 2, `records came from ${pids.size} worker(s)`);
    for (const pid of pids) assert.ok(workers.has(pid), `record from pid ${pid}, a worker`);
  });

  test("one metrics view: the daemon's /metrics counts every worker's requests once", async () => {
    const count = async () => {
      const text = await (await request(`http://fnrun/metrics`, { dispatcher: new Agent({ connect: { socketPath: `${d.stateDir}/fnrun.sock` } }) })).body.text();
      return Number(/^fnrun_invocations_total\{function="counter",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await count();
    const answers = await Promise.all(Array.from({ length: 12 }, () => get("/counter")));
    assert.deepEqual(answers.map((a) => a.status), Array(12).fill(200));
    await until("12 more invocations in /metrics", async () => (await count()) === before + 12, 10_000);
  });

  test("a worker killed from the host is replaced, and the leases it held come back", async () => {
    const [victim] = await workerPids(d);
    // Requests in flight through every worker when one dies: its clients see their connection cut.
    const inFlight = Promise.all(Array.from({ length: 6 }, () => get("/counter?ms=1500").catch((err: Error) => ({ status: 0, text: err.message }))));
    await until("requests in flight", async () => {
      const fns = await control<Array<{ name: string; instances: { inflight: number } | null }>>(d, "GET", "/v1/functions");
      return (fns.find((f) => f.name === "counter")?.instances?.inflight ?? 0) >= 6;
    });
    process.kill(victim, "SIGKILL");
    const answers = await inFlight;
    assert.ok(answers.some((a) => a.status === 200), "requests through the other workers were answered");
    await until("a replacement worker", async () => {
      const pids = await workerPids(d);
      return pids.length === 3 && !pids.includes(victim);
    });
    assert.match(d.log(), new RegExp(`gateway worker ${victim} exited \\(SIGKILL\\); starting another`));
    // Every lease is back in the pool: nothing stays busy for a worker that is gone.
    await until("no request in flight", async () => {
      const fns = await control<Array<{ name: string; instances: { inflight: number } | null }>>(d, "GET", "/v1/functions");
      return fns.find((f) => f.name === "counter")?.instances?.inflight === 0;
    });
    const after = await Promise.all(Array.from({ length: 6 }, () => get("/counter")));
    assert.deepEqual(after.map((a) => a.status), Array(6).fill(200));
  });

  test("a worker killed while its request waits in the queue: the slot the pool gives that request later comes back", async () => {
    type Stats = { inflight: number; queued: number };
    const stats = async () => {
      const fns = await control<Array<{ name: string; instances: Stats | null }>>(d, "GET", "/v1/functions");
      return fns.find((f) => f.name === "counter")?.instances ?? { inflight: -1, queued: -1 };
    };
    // Leases the workers parked after the last requests count as in flight: wait until they went back,
    // so that "every slot busy" below means six long requests running.
    await until("parked leases given back", async () => (await stats()).inflight === 0);
    // Every slot busy (3 instances × concurrency 2), then one more request per worker: each waits in the pool's queue.
    const long = Promise.all(Array.from({ length: 6 }, () => get("/counter?ms=1500").catch(() => null))); // the victim's are cut
    await until("every slot busy", async () => (await stats()).inflight >= 6);
    const queued = Promise.all(Array.from({ length: 3 }, () => get("/counter").catch((err: Error) => ({ status: 0, text: err.message }))));
    await until("a request of every worker in the queue", async () => (await stats()).queued >= 3);
    const [victim] = await workerPids(d);
    process.kill(victim, "SIGKILL");
    await long;
    assert.ok((await queued).filter((a) => a.status === 200).length >= 2, "the queued requests of the other workers were answered");
    // The dead worker's queued request got a slot after the worker was gone: it must not stay busy.
    await until("no request in flight and none queued", async () => {
      const s = await stats();
      return s.inflight === 0 && s.queued === 0;
    }, 10_000);
    await until("a replacement worker", async () => (await workerPids(d)).length === 3);
    const after = await Promise.all(Array.from({ length: 6 }, () => get("/counter?ms=200")));
    assert.deepEqual(after.map((a) => a.status), Array(6).fill(200));
  });
});
