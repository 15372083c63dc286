/**
 * runtime/bootstrap/platform-headers.ts: the x-fnrun-* request headers taken out of node's raw
 * headers in one pass, in any case and at any position, the others kept in their order, and what
 * the gateway's header (or the older pair) carries.
 */
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { takePlatformHeaders } from "../../runtime/bootstrap/platform-headers.ts";

const request = (rawHeaders: string[]) => ({ rawHeaders }) as unknown as IncomingMessage;

test("the gateway's x-fnrun-ctx, last as the gateway sends it: deadline and id, and the header gone", () => {
  const req = request(["Host", "example.test", "Accept", "*/*", "x-fnrun-ctx", "1767225600123 k3-mh3k2z-1a"]);
  assert.deepEqual(takePlatformHeaders(req), { deadline: 1767225600123, invocationId: "k3-mh3k2z-1a" });
  assert.deepEqual(req.rawHeaders, ["Host", "example.test", "Accept", "*/*"]);
});

test("x-fnrun-* in any case and anywhere: all taken out, the others moved up in their order", () => {
  const req = request(["X-Fnrun-Ctx", "42 first", "Host", "h", "x-FNRUN-whatever", "forged", "Accept", "a", "X-FNRUN-INVOCATION-ID", "second", "Cookie", "c"]);
  // The later invocation-id header wins over the ctx's id, as the headers are read in order.
  assert.deepEqual(takePlatformHeaders(req), { deadline: 42, invocationId: "second" });
  assert.deepEqual(req.rawHeaders, ["Host", "h", "Accept", "a", "Cookie", "c"]);
});

test("the older pair, as scheduled runs send it", () => {
  const req = request(["x-fnrun-deadline", "1767225600000", "x-fnrun-invocation-id", "sched-1", "Host", "h"]);
  assert.deepEqual(takePlatformHeaders(req), { deadline: 1767225600000, invocationId: "sched-1" });
  assert.deepEqual(req.rawHeaders, ["Host", "h"]);
});

test("a malformed x-fnrun-ctx gives no id (no space) or a NaN deadline (not digits), and is taken out", () => {
  const none = request(["x-fnrun-ctx", "12345", "Host", "h"]);
  assert.deepEqual(takePlatformHeaders(none), { deadline: undefined, invocationId: undefined });
  assert.deepEqual(none.rawHeaders, ["Host", "h"]);
  const bad = request(["x-fnrun-ctx", "12a45 id-1"]);
  const got = takePlatformHeaders(bad);
  assert.ok(Number.isNaN(got.deadline));
  assert.equal(got.invocationId, "id-1");
  assert.deepEqual(bad.rawHeaders, []);
});

test("x-fnrun- itself and x-fnrunner are not the platform's and stay; x-fnrun-ct is, and goes carrying nothing", () => {
  const raw = ["x-fnrun-", "1", "x-fnrunner", "2", "Host", "h"];
  const req = request([...raw, "x-fnrun-ct", "3"]);
  assert.deepEqual(takePlatformHeaders(req), { deadline: undefined, invocationId: undefined });
  assert.deepEqual(req.rawHeaders, raw);
});

test("no x-fnrun-* at all: the array is left as it is", () => {
  const raw = ["Host", "h", "Accept", "*/*"];
  const req = request(raw);
  assert.deepEqual(takePlatformHeaders(req), { deadline: undefined, invocationId: undefined });
  assert.equal(req.rawHeaders, raw);
  assert.deepEqual(raw, ["Host", "h", "Accept", "*/*"]);
});
