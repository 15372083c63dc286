/**
 * @module bench/warm
 * Warm requests: wrk (one thread, 32 connections, keep-alive, loopback only, bounded in time)
 * against the gateway in front of one warm instance, and against a bare Hono hello server
 * (bench/bare-hono.mjs, its own node process) in the same run.
 *
 * The machines this runs on are noisy (the same build swings 40% between runs minutes apart),
 * so one long run of each says little. After an unmeasured warm-up of each, measureWarm takes
 * several short runs in alternating pairs (bare, then gateway) and reports medians, and the
 * median of the per-pair ratios: the two runs of a pair see about the same background load, so
 * their ratio is far steadier than either number.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { DaemonProcess } from "./daemon.ts";
import { getWhenUp, median, MIN_ENV, sh, sleep } from "./lib.ts";
import { perfAvailable, slowPathUsPerRequest } from "./slow-path.ts";

/** One wrk run, parsed. */
export interface WrkResult {
  /** The URL wrk loaded. */
  url: string;
  /** wrk's Requests/sec. */
  reqPerSec: number;
  /** 50th percentile latency, ms (from `--latency`'s distribution). */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Requests completed in the run. */
  requests: number;
  /** Non-2xx/3xx responses and socket errors: a run with any is not a clean measurement. */
  errors: number;
  /** 1-minute load average right after the run (wrk, the servers, and anything else on the machine). */
  load: string;
  /** wrk's whole output. */
  raw: string;
}

export interface BareServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bench/bare-hono.mjs with a minimal env and resolves with its URL. */
export function startBareHono(): Promise<BareServer> {
  return startScript("bare Hono server", "bare-hono.mjs", []);
}

/** Starts bench/bare-hono-cluster.mjs: the same app in `processes` node:cluster processes on one port. */
export function startBareHonoCluster(processes: number): Promise<BareServer> {
  return startScript(`bare Hono server (${processes} processes)`, "bare-hono-cluster.mjs", [String(processes)]);
}

/** Starts bench/proxy-floor.mjs in front of an instance's unix socket (see that file). */
export function startProxyFloor(instanceSocket: string): Promise<BareServer> {
  return startScript("proxy floor", "proxy-floor.mjs", [instanceSocket]);
}

/** The unix socket of `fn`'s one running instance in `daemon` (runtime/instance.ts: <state>/instances/<id>/sock/fn.sock). */
export async function instanceSocket(daemon: Pick<DaemonProcess, "stateDir" | "containers">, fn: string): Promise<string> {
  const ids = (await daemon.containers()).filter((id) => id.startsWith(`${fn}-`));
  if (ids.length !== 1) throw new Error(`expected one instance of ${fn}, found ${ids.length} (${ids.join(", ") || "none"})`);
  return join(daemon.stateDir, "instances", ids[0], "sock", "fn.sock");
}

/**
 * What the baselines are started with: runtime/tick-shape.mjs, as `fnrun up` and every instance
 * start with it. Without it a node process can run nextTick on V8's generic path (at its start
 * about a third of the time, and after any full GC while it is idle); a baseline in that state
 * would flatter the gateway's ratio to it.
 */
const TICK_SHAPE = join(import.meta.dirname, "..", "runtime", "tick-shape.mjs");

/** Runs a bench/ script that prints its port once it listens; resolves when /hello answers. */
async function startScript(what: string, file: string, args: string[]): Promise<BareServer> {
  const child: ChildProcess = spawn(process.execPath, ["--import", TICK_SHAPE, join(import.meta.dirname, file), ...args], {
    cwd: join(import.meta.dirname, ".."),
    env: MIN_ENV,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    const port = await new Promise<string>((resolve, reject) => {
      let out = "";
      let err = "";
      child.stdout!.on("data", (d) => {
        out += d;
        const m = /^(\d+)\s*$/m.exec(out);
        if (m) resolve(m[1]);
      });
      child.stderr!.on("data", (d) => (err += d));
      void exited.then(() => reject(new Error(`${what} exited: ${err}`)));
      setTimeout(() => reject(new Error(`${what}: no port within 10 s`)), 10_000).unref();
    });
    const url = `http://127.0.0.1:${port}/hello`;
    await getWhenUp(url);
    return { url, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `wrk -t<threads> -c<connections> -d<seconds>s --latency URL`, parsed (NaN for a figure wrk did
 * not print); on CPU `cpu` only when given (`taskset -c`).
 */
export async function wrk(url: string, seconds: number, connections = 32, threads = 1, cpu?: number): Promise<WrkResult> {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--timeout", "5s", "--latency", url];
  const raw = cpu === undefined ? await sh("wrk", args, (seconds + 20) * 1000) : await sh("taskset", ["-c", String(cpu), "wrk", ...args], (seconds + 20) * 1000);
  const num = (re: RegExp) => {
    const m = re.exec(raw);
    return m ? Number(m[1]) : NaN;
  };
  // Anchored to a whole line of the latency distribution ("     50%  1.23ms"): the thread-stats
  // line above it also holds percentages ("72.50%").
  const latency = (pct: string) => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(raw);
    if (!m) return NaN;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]];
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  return {
    url,
    reqPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: latency("50"),
    p99Ms: latency("99"),
    requests: num(/(\d+) requests in/),
    errors: (num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    load: (await readFile("/proc/loadavg", "utf8").catch(() => "")).split(" ")[0] ?? "",
    raw,
  };
}

/** One measured round: a bare run, the floor's (when measured), then the gateway's. */
export interface WarmRound {
  /** wrk against the bare Hono server. */
  bare: WrkResult;
  /** wrk against the proxy floor (bench/proxy-floor.mjs, same instance), between bare and gateway; null when not measured. */
  floor: WrkResult | null;
  /** wrk against the gateway, right after `bare`. */
  gateway: WrkResult;
  /** gateway req/s ÷ bare req/s of this pair. */
  reqPerSecRatio: number;
  /** gateway p50 ÷ bare p50 of this pair. */
  p50Ratio: number;
  /** gateway p99 ÷ bare p99 of this pair. */
  p99Ratio: number;
  /**
   * CPU time (user + system, all threads) the gateway process used during its run, in µs, divided
   * by the requests wrk completed in that run; null when no gateway pid was given or /proc could
   * not be read.
   */
  gatewayCpuUsPerRequest: number | null;
  /** The same for the proxy floor's process; null when not measured. */
  floorCpuUsPerRequest: number | null;
}

/** One side (bare or gateway) over all rounds. */
export interface WarmSide {
  /** Median over the rounds of wrk's Requests/sec. */
  reqPerSec: number;
  /** Median over the rounds of wrk's 50th percentile latency, ms. */
  p50Ms: number;
  /** Median over the rounds of wrk's 99th percentile latency, ms. */
  p99Ms: number;
  /** Requests completed, summed over the measured runs. */
  requests: number;
  /** Errors (non-2xx/3xx and socket errors), summed over the measured runs: any at all means not a clean measurement. */
  errors: number;
}

export interface WarmResult {
  /** The measured pairs, in the order they ran (every wrk run kept, raw output included). */
  rounds: WarmRound[];
  /** Seconds of each measured wrk run. */
  seconds: number;
  /** Seconds of the unmeasured warm-up run of each side. */
  warmupSeconds: number;
  /** wrk connections (always one thread). */
  connections: number;
  /** Medians of the gateway runs. */
  gateway: WarmSide;
  /** Medians of the bare Hono runs. */
  bare: WarmSide;
  /** Median over the rounds of each pair's gateway ÷ bare req/s (not the ratio of the medians). */
  reqPerSecRatio: number;
  /** Median over the rounds of each pair's gateway ÷ bare p50. */
  p50Ratio: number;
  /** Median over the rounds of each pair's gateway ÷ bare p99. */
  p99Ratio: number;
  /** Median over the rounds of the gateway's CPU µs per request; null when not measured. */
  gatewayCpuUsPerRequest: number | null;
  /** Medians of the proxy floor's runs; null when not measured. */
  floor: WarmSide | null;
  /** Median over the rounds of floor ÷ bare req/s (NaN when not measured). */
  floorReqPerSecRatio: number;
  /** Median over the rounds of gateway ÷ floor req/s: how much of its design's floor the gateway reaches (NaN when not measured). */
  gatewayOfFloor: number;
  /** Median over the rounds of gateway p99 ÷ floor p99 (NaN when not measured). */
  gatewayOfFloorP99: number;
  /** Median over the rounds of the floor's CPU µs per request; null when not measured. */
  floorCpuUsPerRequest: number | null;
  /** The V8 slow-path signature (bench/slow-path.ts), µs a request, after the warm-up and after the rounds; null when perf could not sample. */
  slowPath: { before: SlowPathProbe; after: SlowPathProbe } | null;
}

/** bench/slow-path.ts's figure for each process, µs a request (null: not sampled). */
export interface SlowPathProbe {
  gateway: number | null;
  floor: number | null;
}

export interface MeasureWarmOptions {
  /** Measured pairs (default 5). */
  rounds?: number;
  /** Seconds of each measured wrk run (default 4). */
  seconds?: number;
  /** Pid of the gateway's process (`fnrun up`): with it, the gateway's CPU per request is measured too. */
  gatewayPid?: number;
  /** The proxy floor in front of the same instance (startProxyFloor): measured in every round, between bare and gateway. */
  floor?: { url: string; pid: number };
}

const WARMUP_SECONDS = 2;
const PAUSE_MS = 300;
const CONNECTIONS = 32;

let clockTicks: Promise<number> | null = null;
/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`; 100 when unavailable). */
export function clkTck(): Promise<number> {
  return (clockTicks ??= sh("getconf", ["CLK_TCK"]).then(
    (out) => Number(out.trim()) || 100,
    () => 100,
  ));
}

/** utime + stime of a process (all its threads), in clock ticks; null when /proc cannot be read. */
export async function cpuTicks(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return null;
  // Fields after "(comm)", which may itself hold spaces: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** Median of the finite values (NaN when there are none). */
function medianOf(xs: number[]): number {
  return median(xs.filter(Number.isFinite));
}

function side(runs: WrkResult[]): WarmSide {
  return {
    reqPerSec: medianOf(runs.map((r) => r.reqPerSec)),
    p50Ms: medianOf(runs.map((r) => r.p50Ms)),
    p99Ms: medianOf(runs.map((r) => r.p99Ms)),
    requests: runs.reduce((a, r) => a + (Number.isFinite(r.requests) ? r.requests : 0), 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

/**
 * An unmeasured warm-up of each side (JIT, connection pools, the instance's first requests), then
 * `rounds` pairs of runs: bare, then gateway, `seconds` each, a short pause between runs.
 */
export async function measureWarm(gatewayUrl: string, bareUrl: string, opts: MeasureWarmOptions = {}): Promise<WarmResult> {
  const { rounds: n = 5, seconds = 4, gatewayPid, floor } = opts;
  const tck = await clkTck();
  /** A measured run, with the CPU µs per request of `pid` over it when a pid is given. */
  const run = async (url: string, pid: number | undefined): Promise<[WrkResult, number | null]> => {
    const before = pid === undefined ? null : await cpuTicks(pid);
    const result = await wrk(url, seconds, CONNECTIONS);
    const after = pid === undefined ? null : await cpuTicks(pid);
    return [result, before !== null && after !== null && result.requests > 0 ? (((after - before) / tck) * 1e6) / result.requests : null];
  };
  for (const url of [bareUrl, ...(floor ? [floor.url] : []), gatewayUrl]) {
    await wrk(url, WARMUP_SECONDS, CONNECTIONS);
    await sleep(PAUSE_MS);
  }
  const perf = await perfAvailable();
  const probe = async (): Promise<SlowPathProbe> => ({
    gateway: gatewayPid === undefined ? null : await slowPathUsPerRequest(gatewayPid, () => wrk(gatewayUrl, 3, CONNECTIONS)),
    floor: floor ? await slowPathUsPerRequest(floor.pid, () => wrk(floor.url, 3, CONNECTIONS)) : null,
  });
  const before = perf ? await probe() : null;
  const rounds: WarmRound[] = [];
  for (let i = 0; i < n; i++) {
    await sleep(PAUSE_MS);
    const bare = await wrk(bareUrl, seconds, CONNECTIONS);
    let floorRun: WrkResult | null = null;
    let floorCpu: number | null = null;
    if (floor) {
      await sleep(PAUSE_MS);
      [floorRun, floorCpu] = await run(floor.url, floor.pid);
    }
    await sleep(PAUSE_MS);
    const [gateway, cpu] = await run(gatewayUrl, gatewayPid);
    rounds.push({
      bare,
      floor: floorRun,
      gateway,
      reqPerSecRatio: gateway.reqPerSec / bare.reqPerSec,
      p50Ratio: gateway.p50Ms / bare.p50Ms,
      p99Ratio: gateway.p99Ms / bare.p99Ms,
      gatewayCpuUsPerRequest: cpu,
      floorCpuUsPerRequest: floorCpu,
    });
  }
  const slowPath = before ? { before, after: await probe() } : null;
  const cpus = rounds.map((r) => r.gatewayCpuUsPerRequest).filter((x): x is number => x !== null);
  const floorRuns = rounds.map((r) => r.floor).filter((x): x is WrkResult => x !== null);
  const floorCpus = rounds.map((r) => r.floorCpuUsPerRequest).filter((x): x is number => x !== null);
  return {
    floor: floorRuns.length ? side(floorRuns) : null,
    floorReqPerSecRatio: medianOf(rounds.map((r) => (r.floor ? r.floor.reqPerSec / r.bare.reqPerSec : NaN))),
    gatewayOfFloor: medianOf(rounds.map((r) => (r.floor ? r.gateway.reqPerSec / r.floor.reqPerSec : NaN))),
    gatewayOfFloorP99: medianOf(rounds.map((r) => (r.floor ? r.gateway.p99Ms / r.floor.p99Ms : NaN))),
    floorCpuUsPerRequest: floorCpus.length ? median(floorCpus) : null,
    slowPath,
    rounds,
    seconds,
    warmupSeconds: WARMUP_SECONDS,
    connections: CONNECTIONS,
    gateway: side(rounds.map((r) => r.gateway)),
    bare: side(rounds.map((r) => r.bare)),
    reqPerSecRatio: medianOf(rounds.map((r) => r.reqPerSecRatio)),
    p50Ratio: medianOf(rounds.map((r) => r.p50Ratio)),
    p99Ratio: medianOf(rounds.map((r) => r.p99Ratio)),
    gatewayCpuUsPerRequest: cpus.length ? median(cpus) : null,
  };
}
