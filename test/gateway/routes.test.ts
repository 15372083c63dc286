/**
 * The route table: which function serves a method and path, with the answers it remembers
 * (a bounded cache in front of Hono's RegExpRouter) always equal to the router's own.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RouteTable, type RouteSpec } from "../../gateway/routes.ts";

const table = () =>
  new RouteTable(
    new Map<string, RouteSpec[]>([
      ["hello", [{ method: "GET", path: "/hello" }, { method: "GET", path: "/hello/:name" }]],
      ["api", [{ method: "*", path: "/api/*" }]],
      ["post", [{ method: "POST", path: "/submit" }]],
    ]),
  );

describe("RouteTable", () => {
  test("methods, params, wildcards and HEAD → GET, the same on the first and the repeated match", () => {
    const t = table();
    const cases: Array<[string, string, string | null]> = [
      ["GET", "/hello", "hello"],
      ["HEAD", "/hello", "hello"],
      ["POST", "/hello", null],
      ["GET", "/hello/ada", "hello"],
      ["DELETE", "/api/todos/1", "api"],
      ["POST", "/submit", "post"],
      ["GET", "/submit", null],
      ["GET", "/nope", null],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [method, path, fn] of cases) assert.equal(t.match(method, path), fn, `${method} ${path} (round ${round + 1})`);
    }
  });

  test("past its bound the cache starts over and answers stay right; a long path is matched without it", () => {
    const t = table();
    for (let i = 0; i < 3000; i++) assert.equal(t.match("GET", `/hello/n${i}`), "hello");
    assert.equal(t.match("GET", "/nope"), null);
    const long = `/api/${"x".repeat(5000)}`;
    assert.equal(t.match("GET", long), "api");
    assert.equal(t.match("GET", `/hello/${"y".repeat(300)}`), "hello");
  });

  test("a new table (a deploy) answers for the new routes, not from the old table's memory", () => {
    const t = table();
    assert.equal(t.match("GET", "/hello"), "hello");
    const next = t.with("hello", null);
    assert.equal(next.match("GET", "/hello"), null);
    assert.equal(t.match("GET", "/hello"), "hello", "the old table is unchanged");
  });
});
