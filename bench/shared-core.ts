/**
 * @module bench/shared-core
 * The gateway's CPU per request against the proxy floor's, with the two processes on one shared
 * core and loaded at the same moment. Runs one after the other see different moments of a noisy
 * machine: on the 2-core VMs this runs on, the CPU per request of the same process swings up to
 * 2× between runs a few seconds apart, and the req/s ratio of two runs with it. Two processes
 * pinned to one core and loaded at once see the same moments, and each gets half of that core;
 * wrk and the instance run on a second core. The proxy floor measured against a copy of itself
 * this way gave a median of 1.00 with rounds from 0.98 to 1.07 (the first round after pinning
 * further off, so it is not counted), where runs in turn give ±0.1 to 0.3.
 *
 * It measures what fnrun costs in CPU on top of its design's floor, not req/s: the warm table's
 * req/s ratio stays the target's figure.
 */
import { availableParallelism } from "node:os";
import { median, sh, sleep } from "./lib.ts";
import { clkTck, cpuTicks, wrk } from "./warm.ts";

export interface SharedCoreTarget {
  url: string;
  pid: number;
}

export interface SharedCoreRound {
  gatewayUsPerRequest: number;
  floorUsPerRequest: number;
  /** gateway ÷ floor CPU µs per request of this round. */
  ratio: number;
  gatewayRequests: number;
  floorRequests: number;
}

export interface SharedCoreResult {
  /** The measured rounds (after one unmeasured round that lets both settle on the core). */
  rounds: SharedCoreRound[];
  /** Median of the rounds' ratios. */
  ratio: number;
  seconds: number;
  /** wrk connections per target. */
  connections: number;
}

const CONNECTIONS = 16;
/** The core the two measured processes share, and the one for everything else. */
const MEASURED_CPU = 0;
const OTHER_CPU = 1;

/** Pins every thread of `pid` to `cpus` (taskset's list syntax). */
async function pin(pid: number, cpus: string): Promise<void> {
  await sh("taskset", ["-a", "-p", "-c", cpus, String(pid)]);
}

/**
 * Loads `gateway` and `floor` at once for `rounds` rounds of `seconds`, both pinned to one core and
 * `others` (the instance's processes) with wrk to another; every pid gets all cores back after.
 */
export async function measureSharedCore(o: { gateway: SharedCoreTarget; floor: SharedCoreTarget; others: number[]; rounds?: number; seconds?: number }): Promise<SharedCoreResult> {
  const { rounds = 6, seconds = 3 } = o;
  const cores = availableParallelism();
  if (cores < 2) throw new Error(`needs 2 cores, this machine has ${cores}`);
  const tck = await clkTck();
  const all = `0-${cores - 1}`;
  const pids = [o.gateway.pid, o.floor.pid, ...o.others];
  try {
    await pin(o.gateway.pid, String(MEASURED_CPU));
    await pin(o.floor.pid, String(MEASURED_CPU));
    for (const pid of o.others) await pin(pid, String(OTHER_CPU));
    const measured: SharedCoreRound[] = [];
    for (let i = 0; i <= rounds; i++) {
      const [g0, f0] = [await cpuTicks(o.gateway.pid), await cpuTicks(o.floor.pid)];
      const [g, f] = await Promise.all([wrk(o.gateway.url, seconds, CONNECTIONS, 1, OTHER_CPU), wrk(o.floor.url, seconds, CONNECTIONS, 1, OTHER_CPU)]);
      const [g1, f1] = [await cpuTicks(o.gateway.pid), await cpuTicks(o.floor.pid)];
      if (g0 === null || f0 === null || g1 === null || f1 === null) throw new Error("cannot read /proc/<pid>/stat of the gateway or the floor");
      if (g.errors > 0 || f.errors > 0 || !(g.requests > 0) || !(f.requests > 0)) throw new Error(`wrk saw errors or no requests (gateway ${g.errors}/${g.requests}, floor ${f.errors}/${f.requests})`);
      const gUs = (((g1 - g0) / tck) * 1e6) / g.requests;
      const fUs = (((f1 - f0) / tck) * 1e6) / f.requests;
      if (i > 0) measured.push({ gatewayUsPerRequest: gUs, floorUsPerRequest: fUs, ratio: gUs / fUs, gatewayRequests: g.requests, floorRequests: f.requests });
      await sleep(300);
    }
    return { rounds: measured, ratio: median(measured.map((r) => r.ratio)), seconds, connections: CONNECTIONS };
  } finally {
    for (const pid of pids) await pin(pid, all).catch(() => {});
  }
}
