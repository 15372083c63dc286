/**
 * LeaseBroker when a gateway worker dies at the wrong moment: a lease the pool hands out for
 * a request of a worker that has exited meanwhile goes straight back, so the slot does not
 * stay busy for ever (seen once in CI: after a worker was killed with a request waiting in
 * the queue, the function's in-flight count never came back to 0). The pool is a real
 * FunctionPool; its instances are in-process stand-ins (an id and a stop), and the workers
 * are links that record what they were sent. test/gateway/workers.test.ts kills a real worker.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Agent } from "undici";
import { FunctionPool, type PooledInstance } from "../../runtime/function-pool.ts";
import { LeaseBroker, type WorkerLink } from "../../gateway/workers/lease-broker.ts";
import type { ToWorker } from "../../gateway/workers/protocol.ts";

const unused = new Agent(); // never dispatched to
after(() => unused.close());

function setup() {
  let n = 0;
  const pool = new FunctionPool({
    name: "f",
    revision: "r1",
    concurrency: 1,
    minInstances: 0,
    maxInstances: 1,
    maxQueue: 8,
    idleTimeoutMs: 60_000,
    start: async () => {
      const instance: PooledInstance = { id: `i${++n}`, dispatcher: unused, ready: Promise.resolve(), stop: async () => {} };
      return { instance, kind: "cold", createMs: 0, specializeMs: 0 };
    },
  });
  const broker = new LeaseBroker({
    pools: { acquire: () => pool.acquire(), tryAcquire: () => pool.tryAcquire(), concurrencyOf: () => 1 },
    onInvocation: () => {},
    onTimeout: () => {},
    recallTimeoutMs: 5,
  });
  const worker = (id: number) => {
    const sent: ToWorker[] = [];
    const link: WorkerLink = { id, send: (m) => void sent.push(m) };
    broker.add(link);
    return { link, sent };
  };
  return { pool, broker, worker };
}

const grantOf = async (sent: ToWorker[], rid: number) => {
  for (let i = 0; i < 200; i++) {
    const g = sent.find((m) => m.t === "grant" && m.rid === rid);
    if (g && g.t === "grant") return g.grant;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no grant for request ${rid}`);
};

describe("LeaseBroker: a worker that exits while its request waits", () => {
  test("the lease the pool hands out after the worker is gone goes back; the next request gets the slot", async () => {
    const { pool, broker, worker } = setup();
    try {
      const a = worker(1);
      const b = worker(2);
      broker.handle(a.link, { t: "acquire", rid: 1, fn: "f" });
      const first = await grantOf(a.sent, 1);
      assert.equal(pool.stats.inflight, 1);
      // b's request finds no free slot and waits in the pool's queue; then b dies.
      broker.handle(b.link, { t: "acquire", rid: 1, fn: "f" });
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(pool.stats.queued, 1, "b's request waits for a's slot");
      broker.workerGone(b.link);
      // a's request ends: the pool hands the slot to b's waiting request, and it must come back.
      broker.handle(a.link, { t: "release", leases: [[first.lease, "ok"]] });
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(pool.stats.inflight, 0, "no slot stays busy for the dead worker");
      assert.equal(broker.held, 0);
      assert.ok(!b.sent.some((m) => m.t === "grant"), "nothing was granted to the dead worker");
      broker.handle(a.link, { t: "acquire", rid: 2, fn: "f" });
      await grantOf(a.sent, 2);
      assert.equal(pool.stats.inflight, 1);
    } finally {
      await pool.destroy();
    }
  });

  test("an acquire that arrives after the worker's exit takes no slot", async () => {
    const { pool, broker, worker } = setup();
    try {
      const a = worker(1);
      broker.workerGone(a.link);
      broker.handle(a.link, { t: "acquire", rid: 1, fn: "f" });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(pool.stats.inflight, 0);
      assert.equal(broker.held, 0);
      assert.deepEqual(a.sent, []);
    } finally {
      await pool.destroy();
    }
  });
});
