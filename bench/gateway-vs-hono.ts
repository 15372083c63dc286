/**
 * @module bench/gateway-vs-hono
 * The warm-request part of `npm run bench` on its own, for quick before/after comparisons: a
 * real `fnrun up` (one warm instance of the hello function in a runc container) against the bare
 * Hono hello server (bench/bare-hono.mjs) and the proxy floor (bench/proxy-floor.mjs: node:http +
 * undici and nothing else, in front of the same instance), measured by bench/warm.ts's
 * measureWarm: a warm-up of each, then alternating rounds of wrk runs (bare, floor, gateway) on
 * 127.0.0.1. Prints every round and the medians, the median per-round ratios and the CPU µs per
 * request of the gateway and of the floor.
 *
 *   node --import tsx bench/gateway-vs-hono.ts [--duration 4] [--rounds 5] [--cpu-prof DIR]
 *
 * --duration: seconds of each measured wrk run; --cpu-prof DIR: the daemon runs under
 * `node --cpu-prof --cpu-prof-dir=DIR` (the profile is written when it exits).
 * Every child gets the minimal env of bench/lib.ts (this shell's NODE_EXTRA_CA_CERTS slows node starts).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startDaemon, sweep, type DaemonProcess } from "./daemon.ts";
import { HELLO_FUNCTION } from "./floors.ts";
import { fmtMs } from "./lib.ts";
import { instanceSocket, measureWarm, startBareHono, startProxyFloor, type BareServer, type WarmResult, type WrkResult } from "./warm.ts";

/**
 * The warm function of bench/run.ts (configFull's `[functions.warm]` and its defaults: memory
 * 128MiB, cpu 1, concurrency 32, held at exactly one instance), named hello and routed GET /hello.
 */
function config(fnDir: string): string {
  return `[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 0

[functions.hello]
dir = ${JSON.stringify(fnDir)}
routes = ["GET /hello"]
memory = "128MiB"
cpu = 1
concurrency = 32
min_instances = 1
max_instances = 1
`;
}

export async function gatewayVsHono(opts: { rounds: number; seconds: number; cpuProfDir?: string }): Promise<WarmResult> {
  const dir = await mkdtemp(join(tmpdir(), "fnrun-gvh-"));
  let daemon: DaemonProcess | null = null;
  let bare: BareServer | null = null;
  let floor: BareServer | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await bare?.stop();
      await floor?.stop();
      if (daemon) {
        await daemon.stop();
        const left = await sweep(daemon.stateDir);
        if (left > 0) process.stderr.write(`daemon left ${left} containers; removed them\n`);
      }
      await rm(dir, { recursive: true, force: true });
    })());
  const onSignal = () => void cleanUp().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const fnDir = join(dir, "hello");
    await mkdir(fnDir);
    await writeFile(join(fnDir, "index.mjs"), HELLO_FUNCTION);
    const nodeArgs = opts.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(opts.cpuProfDir)}`] : [];
    // Both at once; whichever started is stopped by cleanUp even when the other failed.
    const started = await Promise.allSettled([startDaemon("gateway-vs-hono", join(dir, "daemon"), config(fnDir), { nodeArgs }), startBareHono()]);
    if (started[0].status === "fulfilled") daemon = started[0].value;
    if (started[1].status === "fulfilled") bare = started[1].value;
    for (const s of started) if (s.status === "rejected") throw s.reason;
    const d = daemon!;
    const b = bare!;
    floor = await startProxyFloor(await instanceSocket(d, "hello"));
    process.stderr.write(`gateway ${d.url}/hello (pid ${d.pid}), proxy floor ${floor.url}, bare ${b.url}; warm-up, then ${opts.rounds} rounds of ${opts.seconds} s each\n`);
    return await measureWarm(`${d.url}/hello`, b.url, { rounds: opts.rounds, seconds: opts.seconds, gatewayPid: d.pid, floor });
  } finally {
    await cleanUp();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function fmt(r: { reqPerSec: number; p50Ms: number; p99Ms: number; errors: number }): string {
  return `${r.reqPerSec.toFixed(0).padStart(7)} req/s  p50 ${fmtMs(r.p50Ms).padStart(5)} ms  p99 ${fmtMs(r.p99Ms).padStart(5)} ms${r.errors ? `  errors ${r.errors}` : ""}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { duration: { type: "string", default: "4" }, rounds: { type: "string", default: "5" }, "cpu-prof": { type: "string" } } });
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  if (!(seconds >= 1 && Number.isInteger(seconds)) || !(rounds >= 1 && Number.isInteger(rounds))) {
    process.stderr.write("usage: gateway-vs-hono.ts [--duration SECONDS] [--rounds N] [--cpu-prof DIR]\n");
    process.exit(2);
  }
  const w = await gatewayVsHono({ rounds, seconds, cpuProfDir: values["cpu-prof"] });
  const cpu = (x: number | null) => (x === null ? "" : `  gateway cpu ${x.toFixed(1)} µs/req`);
  w.rounds.forEach((r, i) => {
    const line = (label: string, x: WrkResult) => `round ${i + 1}  ${label}  ${fmt(x)}`;
    console.log(line("bare hono    ", r.bare));
    if (r.floor) console.log(line("proxy floor  ", r.floor));
    console.log(line("fnrun gateway", r.gateway));
    console.log(`round ${i + 1}  ratio          ${r.reqPerSecRatio.toFixed(2)}× req/s   p99 ${r.p99Ratio.toFixed(2)}×${cpu(r.gatewayCpuUsPerRequest)}  load ${r.gateway.load}`);
  });
  console.log(`median   bare hono      ${fmt(w.bare)}`);
  if (w.floor) console.log(`median   proxy floor    ${fmt(w.floor)}`);
  console.log(`median   fnrun gateway  ${fmt(w.gateway)}`);
  if (w.floor) console.log(`median of per-round ratios: floor ${w.floorReqPerSecRatio.toFixed(2)}× bare req/s, gateway ${w.gatewayOfFloor.toFixed(2)}× floor req/s${w.floorCpuUsPerRequest === null ? "" : `, floor cpu ${w.floorCpuUsPerRequest.toFixed(1)} µs/req`}`);
  console.log(`median of per-round ratios: ${w.reqPerSecRatio.toFixed(2)}× req/s   p50 ${w.p50Ratio.toFixed(2)}×   p99 ${w.p99Ratio.toFixed(2)}×${cpu(w.gatewayCpuUsPerRequest)}`);
}
