/**
 * Invocation records cross from a gateway worker to the daemon as rows (gateway/workers/
 * record-rows.ts): after a structured clone (what node:cluster's "advanced" IPC does) and the
 * broker's decoding, the daemon's invocation log must get back the records the worker made,
 * field for field, with the optional fields absent where they were.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { InvocationRecord } from "../../gateway/public-server.ts";
import { LeaseBroker } from "../../gateway/workers/lease-broker.ts";
import { appendRecord, recordsOf } from "../../gateway/workers/record-rows.ts";

const warm: InvocationRecord = { id: "a1-b2-1", fn: "hello", method: "GET", path: "/hello", status: 200, outcome: "ok", kind: "warm", queueMs: 0, startMs: 0, createMs: 0, specializeMs: 0, handlerMs: 0.43, totalMs: 0.61, at: 1796167104755.21 };
const failed: InvocationRecord = { id: "a1-b2-2", fn: "boom", method: "POST", path: "/boom", status: 502, outcome: "ok", kind: "cold", queueMs: 1, startMs: 212, createMs: 180, specializeMs: undefined, handlerMs: 3.5, totalMs: 216.2, at: 1796167104756.5, functionError: "Error: boom" };
const unavailable: InvocationRecord = { id: "a1-b2-3", fn: "hello", method: "GET", path: "/hello", status: 503, outcome: "unavailable", kind: null, queueMs: 0, startMs: 0, totalMs: 5000.1, at: 1796167104757 };

describe("invocation records as rows", () => {
  test("round trip through a structured clone and the broker: the same records, in order", () => {
    const rows: unknown[] = [];
    for (const r of [warm, failed, unavailable]) appendRecord(rows, r);
    const got: InvocationRecord[] = [];
    const broker = new LeaseBroker({
      pools: { acquire: () => Promise.reject(new Error("unused")), tryAcquire: () => undefined, concurrencyOf: () => 1 },
      onInvocation: (r) => void got.push(r),
      onTimeout: () => {},
    });
    const link = { id: 1, send: () => {} };
    broker.add(link);
    broker.handle(link, structuredClone({ t: "invocations" as const, rows }));
    const strip = (r: InvocationRecord) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
    assert.deepEqual(got, [warm, failed, unavailable].map(strip));
    assert.ok(!("functionError" in got[0]) && !("specializeMs" in got[1]) && !("handlerMs" in got[2]), "absent fields stay absent");
  });

  test("a cut-short batch yields only its whole records", () => {
    const rows: unknown[] = [];
    appendRecord(rows, warm);
    appendRecord(rows, failed);
    assert.deepEqual([...recordsOf(rows.slice(0, -3))].map((r) => r.id), [warm.id]);
  });
});
