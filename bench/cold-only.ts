/**
 * @module bench/cold-only
 * Just the cold-start rounds of `npm run bench` (bench/cold-start.ts and the floors of
 * bench/floors.ts), for working on start-up paths without the warm and memory parts:
 *
 *   node --import tsx bench/cold-only.ts [rounds]     (default 10, or BENCH_ROUNDS)
 *
 * Each round takes one sample of every floor, one full cold start and one stem-cell start
 * through the gateway, alternating, as bench/run.ts does (same function, limits and pool
 * settings). Prints medians, p10/p90, the ratio to the runc + node:http floor, the stem
 * starts' own phases from the gateway's `server-timing` header, and the load average, and
 * writes nothing. Everything it starts lives in a temp dir and is stopped at the end, on
 * failure and on Ctrl-C too.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measureColdStarts } from "./cold-start.ts";
import { startDaemon, sweep, type DaemonProcess } from "./daemon.ts";
import { HELLO_FUNCTION, setUpFloors, type FloorKind, type Floors } from "./floors.ts";
import { fmtMs, median, MiB, quantile } from "./lib.ts";

const ROUNDS = Number(process.argv[2] ?? process.env.BENCH_ROUNDS ?? 10);
const STEM_CELLS = 2;
const LIMITS = { memoryBytes: 128 * MiB, cpu: 0.5, pids: 64, tmpBytes: 16 * MiB };
const say = (msg: string) => process.stderr.write(`cold-only: ${msg}\n`);
const q = (s: string) => JSON.stringify(s);

/** bench/run.ts's cold-start settings: 128MiB, cpu 0.5, idle_timeout 300ms, min_instances 0. */
function config(fnDir: string, fn: string, stemCells: number): string {
  return `[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = ${stemCells}
idle_timeout = "300ms"

[defaults]
memory = "128MiB"
cpu = 0.5

[functions.${fn}]
dir = ${q(fnDir)}
min_instances = 0

[functions.warmref]
dir = ${q(fnDir)}
min_instances = 1
max_instances = 1
`;
}

const loadavg = async () => (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");

/** `queue;dur=0.1, start;dur=4.2, handler;dur=1.3` → { queue: 0.1, start: 4.2, handler: 1.3 }. */
function serverTiming(header: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of String(header ?? "").matchAll(/([a-z]+);dur=([\d.]+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say("runs containers with runc: run it as root");
    return 1;
  }
  const tmp = await mkdtemp(join(tmpdir(), "fnrun-cold-"));
  const stops: Array<() => Promise<unknown>> = [];
  const cleanUp = async () => {
    for (const stop of stops.reverse().splice(0)) await stop().catch((err: Error) => say(`cleanup: ${err.message}`));
    await rm(tmp, { recursive: true, force: true });
  };
  const onSignal = () => void cleanUp().then(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    for (const name of ["cold", "viastem"]) {
      await mkdir(join(tmp, "fns", name), { recursive: true });
      await writeFile(join(tmp, "fns", name, "index.mjs"), HELLO_FUNCTION);
    }
    const stopDaemon = (d: DaemonProcess) => async () => {
      await d.stop();
      await sweep(d.stateDir);
    };
    const loadStart = await loadavg();
    say(`load ${loadStart}; starting two daemons (stem_cells = 0 and ${STEM_CELLS}) and the floors' rootfs`);
    const [full, stem, floors] = await Promise.all([
      startDaemon("full", join(tmp, "full"), config(join(tmp, "fns", "cold"), "cold", 0)).then((d) => (stops.push(stopDaemon(d)), d)),
      startDaemon("stem", join(tmp, "stem"), config(join(tmp, "fns", "viastem"), "viastem", STEM_CELLS)).then((d) => (stops.push(stopDaemon(d)), d)),
      setUpFloors(LIMITS).then((f: Floors) => (stops.push(() => f.close()), f)),
    ]);
    const stemPhases: Array<Record<string, number>> = [];
    say(`${ROUNDS} rounds (+1 warm-up)`);
    const r = await measureColdStarts({
      floors,
      full: { daemon: full, fn: "cold", url: `${full.url}/cold` },
      stem: { daemon: stem, fn: "viastem", url: `${stem.url}/viastem`, warmUrl: `${stem.url}/warmref` },
      stemCells: STEM_CELLS,
      rounds: ROUNDS,
      onRound: (i) => i >= 0 && (i + 1) % 5 === 0 && say(`  round ${i + 1}/${ROUNDS}`),
      onSample: (kind, s) => kind === "stem" && stemPhases.push(serverTiming(s.headers["server-timing"])),
    });
    const floor = median(r.floors.runcPlain);
    const rows: Array<[string, number[]]> = [
      ["stem-cell start through the gateway (curl)", r.stem],
      ["stem-cell start through the gateway (node:http client)", r.stemNode],
      ["warm request through the stem daemon's gateway, new connection (curl)", r.warmCurl],
      ["full cold start through the gateway", r.cold],
      ...(["runcBootstrap", "runcPlain", "hostBootstrap", "hostPlain"] as FloorKind[]).map((k): [string, number[]] => [`floor ${k}`, r.floors[k]]),
    ];
    const out = [`| what | median ms | p10 | p90 | n | ÷ runc+node:http |`, `| --- | ---: | ---: | ---: | ---: | ---: |`];
    for (const [what, xs] of rows) out.push(`| ${what} | ${fmtMs(median(xs))} | ${fmtMs(quantile(xs, 0.1))} | ${fmtMs(quantile(xs, 0.9))} | ${xs.length} | ${(median(xs) / floor).toFixed(2)}× |`);
    const phase = (k: string) => fmtMs(median(stemPhases.map((p) => p[k]).filter((v) => v !== undefined)));
    out.push("", `stem starts, gateway server-timing medians: start (lease: specialize) ${phase("start")} ms, handler (dispatch → response head) ${phase("handler")} ms`);
    out.push(`served as: full ${JSON.stringify(r.coldKinds)}, stem ${JSON.stringify(r.stemKinds)}; load at start ${loadStart}, at end ${await loadavg()}`);
    process.stdout.write(out.join("\n") + "\n");
    return 0;
  } finally {
    await cleanUp();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

process.exitCode = await main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? err}`);
  return 1;
});
