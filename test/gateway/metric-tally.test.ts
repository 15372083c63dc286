/**
 * The hot-path tallies against prom-client's own Counter and Histogram: fed the same
 * observations, the two registries must print the same exposition text.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Counter, Histogram, Registry } from "prom-client";
import { TallyCounter, TallyHistogram } from "../../gateway/metric-tally.ts";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.1, 1];
// Values on the bounds, between them, below the first and past the last.
const VALUES = [0, 0.0005, 0.001, 0.0011, 0.0025, 0.004, 0.005, 0.02, 0.1, 0.7, 1, 3.5, 120];

describe("metric tallies", () => {
  test("a TallyHistogram prints what prom-client's Histogram prints for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new TallyHistogram({ name: "x_seconds", help: "x.", labelNames: ["function", "kind"], buckets: BUCKETS, registry: ours });
    const p = new Histogram({ name: "x_seconds", help: "x.", labelNames: ["function", "kind"], buckets: BUCKETS, registers: [theirs] });
    for (const [i, v] of VALUES.entries()) {
      const fn = i % 3 === 0 ? "a" : 'b"\\\n'; // a label value that needs escaping
      const kind = i % 2 ? "warm" : "cold";
      h.observe(v, fn, kind);
      p.observe({ function: fn, kind }, v);
    }
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(text, /^x_seconds_bucket\{le="\+Inf",function="a",kind="cold"\} 3$/m);
    assert.deepEqual((await ours.getMetricsAsJSON()).map((m) => m.values.length), (await theirs.getMetricsAsJSON()).map((m) => m.values.length));
  });

  test("a TallyCounter prints what prom-client's Counter prints, and counts per label set", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const c = new TallyCounter({ name: "y_total", help: "y.", labelNames: ["function", "status"], registry: ours });
    const p = new Counter({ name: "y_total", help: "y.", labelNames: ["function", "status"], registers: [theirs] });
    for (let i = 0; i < 50; i++) {
      const fn = `f${i % 4}`;
      const status = i % 5 ? "200" : "504";
      c.add(fn, status);
      p.inc({ function: fn, status });
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.equal(c.get("f0", "504"), 3);
    assert.equal(c.get("f9", "200"), 0);
    // a scrape does not change the counts (the prom-client side is refilled, not added to)
    await ours.metrics();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  test("wrong label arity is an error, not a silently mislabeled series", () => {
    const c = new TallyCounter({ name: "z_total", help: "z.", labelNames: ["function", "status"], registry: new Registry() });
    assert.throws(() => c.add("only-one"), /expected function, status, got 1 value/);
  });

  test("reset() empties a TallyHistogram", async () => {
    const r = new Registry();
    const h = new TallyHistogram({ name: "w_seconds", help: "w.", labelNames: ["function"], buckets: BUCKETS, registry: r });
    h.observe(0.5, "a");
    r.resetMetrics();
    assert.equal(await r.metrics(), "# HELP w_seconds w.\n# TYPE w_seconds histogram\n");
  });
});
