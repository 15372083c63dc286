/**
 * FunctionPool with instances handed out before their code has loaded (a stem cell specialized
 * while its first request goes in behind the load, Instance.beginSpecialize): the waiting
 * request gets the instance at once; if the load then fails, the instance is retired and the
 * function fails fast for a while, as when a start fails outright; a warm-up (a deploy) waits
 * for the load and fails with it. The instances are in-process stand-ins (an id, a stop and a
 * `ready` promise the test settles); test/runtime/stem-cell.test.ts covers the real container.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Agent } from "undici";
import { FunctionPool, type PooledInstance } from "../../runtime/function-pool.ts";
import { RuntimeError } from "../../runtime/errors.ts";

const unused = new Agent(); // never dispatched to
after(() => unused.close());

/** An instance whose code is still loading: `load.fail(err)` / `load.ok()` settle its `ready`. */
function loading(id: string, stopped: string[]) {
  let settle!: { ok: () => void; fail: (err: unknown) => void };
  const ready = new Promise<void>((ok, fail) => (settle = { ok, fail }));
  ready.catch(() => {});
  const instance: PooledInstance = { id, dispatcher: unused, ready, stop: async () => void stopped.push(id) };
  return { instance, load: settle };
}

const initError = () => new RuntimeError("FNRUN_FUNCTION_INIT", "function `f` (revision r1) failed to initialize in instance `s1`: boom at import");

function pool(start: () => Promise<PooledInstance>) {
  return new FunctionPool({
    name: "f",
    revision: "r1",
    concurrency: 4,
    minInstances: 0,
    maxInstances: 2,
    maxQueue: 8,
    idleTimeoutMs: 60_000,
    start: async () => ({ instance: await start(), kind: "stem", createMs: 0, specializeMs: 1 }),
  });
}

describe("FunctionPool: instances handed out while their code loads", () => {
  test("the request gets the instance before the load has finished; a load that succeeds changes nothing", async () => {
    const stopped: string[] = [];
    const s = loading("s1", stopped);
    const p = pool(async () => s.instance);
    try {
      const lease = await p.acquire(); // resolves although `ready` has not settled
      assert.equal(lease.instance.id, "s1");
      assert.equal(lease.kind, "stem");
      s.load.ok();
      lease.release("ok");
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(stopped, []);
      assert.equal(p.stats.instances, 1);
    } finally {
      await p.destroy();
    }
  });

  test("a load that fails after the lease: the instance is retired and requests fail fast with the load's error", async () => {
    const stopped: string[] = [];
    let n = 0;
    const made: Array<ReturnType<typeof loading>> = [];
    const p = pool(async () => {
      const s = loading(`s${++n}`, stopped);
      made.push(s);
      return s.instance;
    });
    try {
      const lease = await p.acquire();
      made[0].load.fail(initError());
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(stopped, ["s1"], "retired as soon as the load failed");
      assert.equal(p.stats.instances, 0);
      lease.release("ok"); // its request got the bootstrap's 502 init meanwhile
      await assert.rejects(p.acquire(), { code: "FNRUN_FUNCTION_INIT", message: /boom at import/ });
      assert.equal(n, 1, "no new start while the function's code is known to fail");
    } finally {
      await p.destroy();
    }
  });

  test("a warm-up (a deploy) waits for the load: a failing one fails the warm-up and stops the instance", async () => {
    const stopped: string[] = [];
    const s = loading("s1", stopped);
    const p = pool(async () => s.instance);
    try {
      const warming = p.warm(1);
      let settled = false;
      void warming.then(() => (settled = true), () => (settled = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false, "not warm before the code has loaded");
      s.load.fail(initError());
      await assert.rejects(warming, { code: "FNRUN_FUNCTION_INIT" });
      assert.deepEqual(stopped, ["s1"]);
      assert.equal(p.stats.instances, 0);
    } finally {
      await p.destroy();
    }
  });
});
