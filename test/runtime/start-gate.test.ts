/**
 * runtime/start-gate.ts on its own (starts are promises the test settles by hand), then inside
 * the pool manager: a deploy of many warm instances boots them a few at a time, and a start a
 * request waits for goes ahead of the warm-ups queued before it.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Agent } from "undici";
import { PoolManager, type PoolDefinition } from "../../runtime/pool-manager.ts";
import { defaultStartLimit, StartGate } from "../../runtime/start-gate.ts";

const MiB = 1024 * 1024;
const unused = new Agent(); // never dispatched to
after(() => unused.close());

/** A start the test ends: `release()` resolves it (or rejects it with `err`). */
function manual() {
  let release!: (err?: Error) => void;
  const done = new Promise<void>((resolve, reject) => (release = (err) => (err ? reject(err) : resolve())));
  return { done, release };
}
const tick = () => new Promise((r) => setImmediate(r));

describe("StartGate", () => {
  test("runs at most `limit` background starts at once, in the order asked, and the next one when one ends", async () => {
    const gate = new StartGate(2);
    const starts = [manual(), manual(), manual(), manual()];
    const began: number[] = [];
    const runs = starts.map((s, i) => gate.run(() => (began.push(i), s.done)));
    await tick();
    assert.deepEqual(began, [0, 1]);
    assert.deepEqual(gate.stats, { running: 2, waiting: 2 });
    starts[1].release(new Error("runc create failed")); // a failed start gives its turn back too
    await assert.rejects(runs[1], /runc create failed/);
    await tick();
    assert.deepEqual(began, [0, 1, 2]);
    starts[0].release();
    await tick();
    assert.deepEqual(began, [0, 1, 2, 3]);
    assert.deepEqual(gate.stats, { running: 2, waiting: 0 });
    starts[2].release();
    starts[3].release();
    await Promise.all([runs[0], runs[2], runs[3]]);
    assert.deepEqual(gate.stats, { running: 0, waiting: 0 });
  });

  test("an urgent start runs at once, beyond the limit, and background starts wait for it too", async () => {
    const gate = new StartGate(1);
    const bg = manual();
    const urgent = manual();
    const queued = manual();
    const began: string[] = [];
    const runs = [gate.run(() => (began.push("bg"), bg.done)), gate.run(() => (began.push("queued"), queued.done))];
    const urgentRun = gate.run(() => (began.push("urgent"), urgent.done), true);
    await tick();
    assert.deepEqual(began, ["bg", "urgent"]);
    assert.deepEqual(gate.stats, { running: 2, waiting: 1 });
    bg.release();
    await tick();
    assert.deepEqual(began, ["bg", "urgent"], "the urgent start still holds the one turn");
    urgent.release();
    await urgentRun;
    await tick();
    assert.deepEqual(began, ["bg", "urgent", "queued"]);
    queued.release();
    await Promise.all(runs);
  });

  test("close() calls off the starts still waiting and refuses new ones; the running one finishes", async () => {
    const gate = new StartGate(1);
    const first = manual();
    let secondBegan = false;
    const running = gate.run(() => first.done);
    const waiting = gate.run(async () => void (secondBegan = true));
    gate.close(new Error("shutting down"));
    await assert.rejects(waiting, /shutting down/);
    await assert.rejects(gate.run(async () => {}, true), /shutting down/);
    first.release();
    await running;
    assert.equal(secondBegan, false);
  });

  test("the limit is a whole number ≥ 1; by default two per core, at least 2", () => {
    assert.throws(() => new StartGate(0), /limit must be a whole number ≥ 1, got 0/);
    assert.throws(() => new StartGate(1.5), /got 1.5/);
    assert.equal(defaultStartLimit(1), 2);
    assert.equal(defaultStartLimit(2), 4);
    assert.equal(defaultStartLimit(16), 32);
  });
});

describe("PoolManager: container starts take turns", () => {
  const def = (name: string, minInstances: number): PoolDefinition => ({
    name, revision: "r1", concurrency: 1, minInstances, maxInstances: Math.max(1, minInstances) + 1, maxQueue: 8, memoryBytes: 1 * MiB, stemCompatible: false,
  });

  test("deploys of 3 functions with 4 warm instances each boot at most 3 containers at once; a request's start goes first", async () => {
    let booting = 0;
    let most = 0;
    const pending: Array<() => void> = [];
    const order: string[] = [];
    const pm = new PoolManager({
      memoryBudgetBytes: 64 * MiB,
      idleTimeoutMs: 60_000,
      startLimit: 3,
      startCold: async (d) => {
        booting++;
        most = Math.max(most, booting);
        order.push(d.name);
        await new Promise<void>((r) => pending.push(r));
        booting--;
        return { id: `${d.name}-${order.length}`, dispatcher: unused, stop: async () => {} };
      },
    });
    try {
      const deploys = Promise.all(["a", "b", "c"].map((n) => pm.deploy(def(n, 4))));
      await tick();
      assert.equal(booting, 3, "three boot, nine wait");
      while (pending.length) {
        pending.shift()!();
        await tick();
      }
      await deploys;
      assert.ok(most <= 3, `at most 3 containers booted at once, saw ${most}`);
      assert.equal(order.length, 12);

      // All 12 warm and busy-free; hold every instance of a, then ask once more: a request's start.
      const leases = [];
      for (let i = 0; i < 4; i++) leases.push(await pm.acquire("a"));
      const queuedDeploy = pm.deploy(def("e", 4)); // 4 background starts: 3 boot, 1 waits
      await tick();
      assert.equal(booting, 3);
      const urgent = pm.acquire("a"); // every instance of a is busy: it starts a fifth, now
      await tick();
      assert.equal(booting, 4, "the request's start did not wait for a turn");
      assert.equal(order.at(-1), "a");
      while (pending.length) {
        pending.shift()!();
        await tick();
      }
      (await urgent).release("ok");
      for (const l of leases) l.release("ok");
      await queuedDeploy;
      assert.equal(order.length, 17);
    } finally {
      await pm.destroy();
    }
  });
});
