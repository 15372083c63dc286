/**
 * @module bench/workers
 * How the gateway scales with its worker processes ([gateway] workers): for each count N (1, 2
 * and every core, without repeats), a daemon with workers = N in front of N warm instances of
 * the hello function (so the function is not what limits), against bare Hono run as N
 * node:cluster processes (bench/bare-hono-cluster.mjs). wrk uses min(N, 4) threads and 32
 * connections per process. Rounds alternate over every N, bare then gateway, so each pair sees
 * about the same background load; medians and the median per-pair ratio are reported, with
 * the CPU µs per request of the daemon and its workers together.
 *
 *   node --import tsx bench/workers.ts [--duration 4] [--rounds 3]
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startDaemon, sweep, type DaemonProcess } from "./daemon.ts";
import { HELLO_FUNCTION } from "./floors.ts";
import { median, sh, sleep } from "./lib.ts";
import { clkTck, cpuTicks, startBareHonoCluster, wrk, type BareServer, type WrkResult } from "./warm.ts";

export interface WorkersRow {
  workers: number;
  gateway: { reqPerSec: number; p99Ms: number };
  bare: { reqPerSec: number; p99Ms: number };
  /** Median over the rounds of gateway ÷ bare req/s. */
  ratio: number;
  /** Median CPU µs per request of the daemon and all its workers. */
  cpuUsPerRequest: number | null;
  errors: number;
}

export interface WorkersResult {
  cores: number;
  rounds: number;
  seconds: number;
  rows: WorkersRow[];
}

/** The worker counts measured: 1, 2 and every core, each once. */
export function workerCounts(cores = availableParallelism()): number[] {
  return [...new Set([1, 2, cores])].filter((n) => n >= 1).sort((a, b) => a - b);
}

function config(fnDir: string, workers: number): string {
  return `[gateway]
listen = "127.0.0.1:0"
workers = ${workers}

[pool]
stem_cells = 0

[functions.hello]
dir = ${JSON.stringify(fnDir)}
routes = ["GET /hello"]
memory = "128MiB"
cpu = 1
concurrency = 32
min_instances = ${workers}
max_instances = ${workers}
`;
}

/** The pids of a process and all its descendants (the daemon, its gateway workers). */
async function processTree(pid: number): Promise<number[]> {
  const out = await sh("ps", ["-e", "-o", "pid=,ppid="]);
  const children = new Map<number, number[]>();
  for (const line of out.split("\n")) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (!p) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const all: number[] = [];
  const walk = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return all;
}

async function treeTicks(pids: number[]): Promise<number | null> {
  let sum = 0;
  for (const p of pids) {
    const t = await cpuTicks(p);
    if (t === null) return null;
    sum += t;
  }
  return sum;
}

export async function measureWorkers(opts: { counts?: number[]; rounds?: number; seconds?: number; say?: (msg: string) => void } = {}): Promise<WorkersResult> {
  const counts = opts.counts ?? workerCounts();
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 4;
  const say = opts.say ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), "fnrun-workers-"));
  const daemons = new Map<number, DaemonProcess>();
  const bares = new Map<number, BareServer>();
  try {
    const fnDir = join(dir, "hello");
    await mkdir(fnDir);
    await writeFile(join(fnDir, "index.mjs"), HELLO_FUNCTION);
    for (const n of counts) {
      daemons.set(n, await startDaemon(`workers-${n}`, join(dir, `w${n}`), config(fnDir, n)));
      bares.set(n, await startBareHonoCluster(n));
    }
    const tck = await clkTck();
    const conns = (n: number) => 32 * n;
    const threads = (n: number) => Math.min(n, 4);
    for (const n of counts) {
      // Unmeasured warm-up: JIT, every worker's connections to every instance.
      await wrk(bares.get(n)!.url, 2, conns(n), threads(n));
      await wrk(`${daemons.get(n)!.url}/hello`, 2, conns(n), threads(n));
    }
    const runs = new Map<number, Array<{ bare: WrkResult; gateway: WrkResult; cpu: number | null }>>(counts.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      say(`  workers round ${r + 1}/${rounds}`);
      for (const n of counts) {
        await sleep(300);
        const bare = await wrk(bares.get(n)!.url, seconds, conns(n), threads(n));
        await sleep(300);
        const d = daemons.get(n)!;
        const pids = await processTree(d.pid);
        const before = await treeTicks(pids);
        const gateway = await wrk(`${d.url}/hello`, seconds, conns(n), threads(n));
        const after = await treeTicks(pids);
        const cpu = before !== null && after !== null && gateway.requests > 0 ? (((after - before) / tck) * 1e6) / gateway.requests : null;
        runs.get(n)!.push({ bare, gateway, cpu });
      }
    }
    const rows: WorkersRow[] = counts.map((n) => {
      const rs = runs.get(n)!;
      const cpus = rs.map((x) => x.cpu).filter((x): x is number => x !== null);
      return {
        workers: n,
        gateway: { reqPerSec: median(rs.map((x) => x.gateway.reqPerSec)), p99Ms: median(rs.map((x) => x.gateway.p99Ms)) },
        bare: { reqPerSec: median(rs.map((x) => x.bare.reqPerSec)), p99Ms: median(rs.map((x) => x.bare.p99Ms)) },
        ratio: median(rs.map((x) => x.gateway.reqPerSec / x.bare.reqPerSec)),
        cpuUsPerRequest: cpus.length ? median(cpus) : null,
        errors: rs.reduce((a, x) => a + x.gateway.errors + x.bare.errors, 0),
      };
    });
    return { cores: availableParallelism(), rounds, seconds, rows };
  } finally {
    for (const b of bares.values()) await b.stop();
    for (const d of daemons.values()) {
      await d.stop();
      await sweep(d.stateDir);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { duration: { type: "string", default: "4" }, rounds: { type: "string", default: "3" } } });
  const result = await measureWorkers({ rounds: Number(values.rounds), seconds: Number(values.duration), say: (m) => process.stderr.write(`${m}\n`) });
  for (const r of result.rows) {
    console.log(
      `workers ${String(r.workers).padStart(2)}  gateway ${r.gateway.reqPerSec.toFixed(0).padStart(7)} req/s p99 ${r.gateway.p99Ms.toFixed(2)} ms  bare Hono ×${r.workers} ${r.bare.reqPerSec.toFixed(0).padStart(7)} req/s  ratio ${r.ratio.toFixed(2)}×` +
        `${r.cpuUsPerRequest === null ? "" : `  cpu ${r.cpuUsPerRequest.toFixed(1)} µs/req`}${r.errors ? `  errors ${r.errors}` : ""}`,
    );
  }
}
