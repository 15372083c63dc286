/**
 * The invocation ring: the newest records come back whole (optional fields only when they were
 * given), in order, per function, across the ring's wrap; counts stay per function.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvocationLog } from "../../gateway/invocation-log.ts";
import type { InvocationRecord } from "../../gateway/public-server.ts";

function record(n: number, over: Partial<InvocationRecord> = {}): InvocationRecord {
  return { id: `id-${n}`, fn: n % 2 ? "odd" : "even", method: "GET", path: `/p/${n % 3}`, status: 200, outcome: "ok", kind: "warm", queueMs: 0, startMs: 0, handlerMs: n / 4, totalMs: n / 2, at: 1_700_000_000_000 + n, ...over };
}

describe("invocation log", () => {
  test("gives back what was added, newest last, with only the optional fields that were set", () => {
    const log = new InvocationLog(10);
    const cold = record(1, { kind: "cold", queueMs: 120.5, startMs: 118.25, createMs: 101.75, status: 502, outcome: "crashed", functionError: "oom" });
    const unavailable: InvocationRecord = { id: "id-2", fn: "even", method: "POST", path: "/x", status: 503, outcome: "unavailable", kind: null, queueMs: 0, startMs: 0, totalMs: 0.5, at: 1_700_000_000_002 };
    const stem = record(3, { kind: "stem", queueMs: 7.5, startMs: 7.25, specializeMs: 6.5 });
    for (const r of [cold, unavailable, stem]) log.add(r);
    assert.deepEqual(log.recent(), [cold, unavailable, stem]);
    assert.deepEqual(log.recent(2), [unavailable, stem]);
    assert.deepEqual(log.recent(10, "odd"), [cold, stem]);
    assert.equal("createMs" in log.recent(1)[0], false, "an optional field that was not given is absent, not undefined");
  });

  test("keeps the newest `capacity` records across the ring's wrap", () => {
    const log = new InvocationLog(5);
    const all = Array.from({ length: 13 }, (_, n) => record(n));
    for (const r of all) log.add(r);
    assert.deepEqual(log.recent(100), all.slice(-5));
    assert.deepEqual(log.recent(3), all.slice(-3));
    assert.deepEqual(log.recent(100, "even"), all.slice(-5).filter((r) => r.fn === "even"));
    assert.deepEqual(log.recent(1, "odd"), [all[11]]);
    assert.deepEqual(log.counts("even"), { invocations: 7, errors: 0, starts: { warm: 7, stem: 0, cold: 0 } });
    log.forget("even");
    assert.deepEqual(log.counts("even"), { invocations: 0, errors: 0, starts: { warm: 0, stem: 0, cold: 0 } });
  });

  test("counts errors (5xx) and starts by kind per function", () => {
    const log = new InvocationLog(3);
    log.add(record(1, { status: 504, outcome: "timeout" }));
    log.add(record(3, { kind: "cold" }));
    log.add(record(5, { kind: null, status: 429, outcome: "unavailable" }));
    log.add(record(7, { kind: "stem", status: 500 }));
    assert.deepEqual(log.counts("odd"), { invocations: 4, errors: 2, starts: { warm: 1, stem: 1, cold: 1 } });
  });
});
