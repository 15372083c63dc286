/**
 * The gateway's request timeouts (gateway/deadlines.ts): one interval for every request in
 * flight, lists per timeout length. Each expires once, not before its deadline and at most a
 * tick or two after it; removed ones never expire; with nothing left the interval stops.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Deadlines, TICK_MS, type Timed } from "../../gateway/deadlines.ts";

function timed(name: string, fired: Array<[string, number]>, t0: number): Timed {
  return {
    deadlineAt: 0, prevTimed: null, nextTimed: null, timedList: null,
    expire: () => void fired.push([name, performance.now() - t0]),
  };
}

describe("Deadlines", () => {
  test("each expires once, never early; removed ones never; lists of different lengths interleave", async () => {
    const d = new Deadlines();
    const fired: Array<[string, number]> = [];
    const t0 = performance.now();
    const a = timed("a", fired, t0), b = timed("b", fired, t0), c = timed("c", fired, t0), x = timed("x", fired, t0);
    d.add(a, 120, t0);
    d.add(b, 40, t0);
    d.add(x, 40, t0);
    d.add(c, 120, t0 + 10);
    d.remove(x);
    assert.equal(d.size, 3);
    await new Promise((r) => setTimeout(r, 120 + 10 + 6 * TICK_MS));
    assert.deepEqual(fired.map(([n]) => n), ["b", "a", "c"]);
    const at = Object.fromEntries(fired);
    assert.ok(at.b >= 40 && at.a >= 120 && at.c >= 130, JSON.stringify(fired));
    assert.equal(d.size, 0);
    d.remove(a); // already gone: nothing happens
    assert.equal(d.size, 0);
  });

  test("removing the head, the tail and the middle keeps each list linked", async () => {
    const d = new Deadlines();
    const fired: Array<[string, number]> = [];
    const t0 = performance.now();
    const items = ["1", "2", "3", "4", "5"].map((n) => timed(n, fired, t0));
    for (const t of items) d.add(t, 30, t0);
    d.remove(items[0]);
    d.remove(items[4]);
    d.remove(items[2]);
    await new Promise((r) => setTimeout(r, 30 + 6 * TICK_MS));
    assert.deepEqual(fired.map(([n]) => n), ["2", "4"]);
  });
});
