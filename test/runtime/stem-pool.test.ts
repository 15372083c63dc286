/**
 * StemPool's refill (runtime/stem-pool.ts) with in-process stand-ins for stem cells: a taken
 * stem cell is replaced after the refill delay, not by the next fill() the pool manager's
 * reaper makes meanwhile, so the replacement's boot does not compete with the taker's start.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StemPool } from "../../runtime/stem-pool.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StemPool refill", () => {
  test("a fill() right after take() (the reaper's tick) does not start the replacement early; it starts after the delay", async () => {
    let started = 0;
    let stopped = 0;
    let reserved = 0;
    const pool = new StemPool({
      size: 1,
      start: async () => ({ id: `stem-${++started}`, stop: async () => void stopped++ }),
      reserve: () => (reserved++, true),
      release: () => void reserved--,
    });
    try {
      pool.fill();
      for (let i = 0; pool.stats.ready < 1; i++) {
        assert.ok(i < 200, "the first stem cell is ready");
        await sleep(5);
      }
      const stem = pool.take();
      assert.equal(stem?.id, "stem-1");
      pool.fill(); // what the reaper does on its next tick
      await sleep(30);
      pool.fill();
      assert.equal(started, 1, "no replacement while the taker's start is under way");
      assert.deepEqual(pool.stats, { size: 1, ready: 0, starting: 0 });
      for (let i = 0; started < 2; i++) {
        assert.ok(i < 400, "the replacement starts after the refill delay");
        await sleep(5);
      }
      for (let i = 0; pool.stats.ready < 1; i++) {
        assert.ok(i < 200, "the replacement is ready");
        await sleep(5);
      }
      pool.fill();
      assert.equal(started, 2, "a full pool starts nothing more");
    } finally {
      await pool.close();
    }
    assert.equal(stopped, 1, "close() stops the ready stem cell");
  });
});
