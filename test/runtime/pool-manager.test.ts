/**
 * The pool manager's memory budget when starts race: deploys and cold starts that begin in the
 * same tick must see each other's reservations (and wait for them to land) instead of failing
 * with "host at capacity". The instances here are in-process stand-ins (an id and a stop); the
 * same scenario with real containers is test/gateway/warm-pool.test.ts ("the memory budget").
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Agent } from "undici";
import { PoolManager, type PoolDefinition } from "../../runtime/pool-manager.ts";

const MiB = 1024 * 1024;
const unused = new Agent(); // never dispatched to: the manager only starts and stops instances here
after(() => unused.close());

function def(name: string): PoolDefinition {
  return { name, revision: "r1", concurrency: 1, minInstances: 0, maxInstances: 2, maxQueue: 8, memoryBytes: 96 * MiB, stemCompatible: false };
}

describe("PoolManager: the memory budget under concurrent starts", () => {
  test("three deploys begun in one tick with room for two: all deploy, the third evicts an idle instance", async () => {
    const stopped: string[] = [];
    let seq = 0;
    const pm = new PoolManager({
      memoryBudgetBytes: 200 * MiB,
      idleTimeoutMs: 60_000,
      startCold: async (d) => {
        const id = `${d.name}-${seq++}`;
        return { id, dispatcher: unused, stop: async () => void stopped.push(id) };
      },
    });
    try {
      const results = await Promise.allSettled(["a", "b", "c"].map((name) => pm.deploy(def(name))));
      assert.deepEqual(results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : "deployed")), ["deployed", "deployed", "deployed"]);
      assert.equal(stopped.length, 1, "one idle instance of another function made room");
      assert.ok(pm.budget.used <= 200 * MiB, `reserved ${pm.budget.used / MiB} MiB of 200`);
      assert.equal(pm.budget.used, 2 * 96 * MiB);
    } finally {
      await pm.destroy();
    }
  });

  test("room is made by stopping the least recently used idle instance of another function", async () => {
    const stopped: string[] = [];
    const pm = new PoolManager({
      memoryBudgetBytes: 300 * MiB,
      idleTimeoutMs: 60_000,
      startCold: async (d) => ({ id: d.name, dispatcher: unused, stop: async () => void stopped.push(d.name) }),
    });
    try {
      for (const name of ["a", "b", "c"]) await pm.deploy(def(name));
      // Used in the order c, a, b (each lease released ms apart): c is the least recently used.
      for (const name of ["c", "a", "b"]) {
        (await pm.acquire(name)).release("ok");
        await new Promise((r) => setTimeout(r, 5));
      }
      await pm.deploy(def("d"));
      assert.deepEqual(stopped, ["c"]);
      (await pm.acquire("a")).release("ok");
      await pm.deploy(def("e"));
      assert.deepEqual(stopped, ["c", "b"], "a was used since; b is the least recently used now");
    } finally {
      await pm.destroy();
    }
  });
});
