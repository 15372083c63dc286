/**
 * Which header names the proxy drops and which framing it reads, in any spelling of their case,
 * without lower-casing them; and its two-decimal durations against toFixed(2).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CHUNKED, dropped, ms2, namedAs, requestHeaders } from "../../gateway/proxy.ts";

describe("proxy header names", () => {
  test("drops hop-by-hop fields and the platform's x-fnrun-* in any case, and nothing that only looks like them", () => {
    const gone = ["connection", "Connection", "CONNECTION", "keep-alive", "Keep-Alive", "proxy-connection", "Proxy-Connection", "transfer-encoding", "Transfer-Encoding", "upgrade", "Upgrade", "te", "TE", "trailer", "Trailer", "http2-settings", "HTTP2-Settings", "expect", "Expect", "x-fnrun-ctx", "X-Fnrun-Ctx", "X-FNRUN-ERROR", "x-fnrun-", "x-fnrun-anything-at-all", "x-fnrun-sixteen1", "x-fnrun-seventeen"];
    const kept = ["content-length", "Content-Length", "content-type", "host", "Host", "date", "x-fnrun", "x_fnrun-ctx", "x-fnrunctx", "keep_alive", "connections", "tee", "t", "upgrades", "expects", "http2_settings", "transfer-encodin", "proxy-connectio", "x-request-id", "accept-encoding", ""];
    for (const name of gone) assert.equal(dropped(name), true, `${name} is dropped`);
    // x-fnrun-* of every length, including those of the hop-by-hop names' lengths.
    for (let n = 0; n <= 24; n++) {
      assert.equal(dropped(`x-fnrun-${"f".repeat(n)}`), true, `x-fnrun- and ${n} more characters is dropped`);
      assert.equal(dropped(`X-FnRun-${"F".repeat(n)}`), true, `X-FnRun- and ${n} more characters is dropped`);
      assert.equal(dropped(`x-fnrum-${"f".repeat(n)}`), false, `x-fnrum- and ${n} more characters is forwarded`);
    }
    for (const name of kept) assert.equal(dropped(name), false, `${name} is forwarded`);
  });

  test("namedAs compares a name to its lower-case form without building one", () => {
    assert.equal(namedAs("Content-Length", "content-length"), true);
    assert.equal(namedAs("CONTENT-LENGTH", "content-length"), true);
    assert.equal(namedAs("content-lengt", "content-length"), false);
    assert.equal(namedAs("content_length", "content-length"), false);
    assert.equal(namedAs("Content-Length2", "content-length"), false);
  });

  test("requestHeaders forwards what is kept and reads the framing in any case", () => {
    const out: string[] = [];
    assert.equal(requestHeaders(["Host", "a", "Content-LENGTH", "12", "X-Fnrun-Ctx", "forged", "Connection", "close", "Accept", "*/*"], out), 12);
    assert.deepEqual(out, ["Host", "a", "Content-LENGTH", "12", "Accept", "*/*"]);
    assert.equal(requestHeaders(["TRANSFER-ENCODING", "chunked"], []), CHUNKED);
    assert.equal(requestHeaders(["host", "a"], []), -1);
  });
});

describe("ms2", () => {
  test("writes what toFixed(2) writes for durations", () => {
    for (const ms of [0, 0.001, 0.004, 0.01, 0.05, 0.1, 0.99, 1, 1.5, 4.12, 9.999, 10, 99.07, 123.4, 5000, 86_400_000.25]) assert.equal(ms2(ms), ms.toFixed(2), String(ms));
    for (let i = 0; i < 2000; i++) {
      const ms = (i * 7.3137) % 1000;
      // toFixed rounds the exact binary value, ms2 its product by 100: they may differ in the last digit exactly at a half.
      assert.ok(Math.abs(Number(ms2(ms)) - Number(ms.toFixed(2))) <= 0.010000001, `${ms}: ${ms2(ms)} vs ${ms.toFixed(2)}`);
      assert.match(ms2(ms), /^\d+\.\d\d$/);
    }
    assert.equal(ms2(NaN), "NaN");
  });
});
