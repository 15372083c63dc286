/**
 * @module bench/run
 * `npm run bench`: runs every measurement side by side in one run, prints the table and
 * writes it to BENCHMARKS.md with the machine it ran on. About 2-3 minutes.
 *
 * What it starts: a bare Hono server, two daemons for the cold-start rounds (one without stem
 * cells, one with), then a third holding 100 warm instances; plus the floors' own containers.
 * All in a temp dir, each daemon with its own state dir; every one of them is stopped at the end,
 * on failure and on Ctrl-C too. A benchmark is not a test: nothing here asserts on a timing.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measureColdStarts, type ColdStartResult } from "./cold-start.ts";
import { containerPid, isStemCell, ROOT, startDaemon, sweep, type DaemonProcess } from "./daemon.ts";
import { HELLO_FUNCTION, setUpFloors, type Floors } from "./floors.ts";
import { MiB, waitFor } from "./lib.ts";
import { measureHundred, measureIdleInstance, measureStemCells, type CgroupMemory, type HundredResult } from "./memory.ts";
import { machineInfo, renderMarkdown, writeReport, type Settings } from "./report.ts";
import { measureSharedCore, type SharedCoreResult } from "./shared-core.ts";
import { instanceSocket, measureWarm, startBareHono, startProxyFloor, type BareServer, type WarmResult } from "./warm.ts";
import { measureWorkers, type WorkersResult } from "./workers.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 18);
const STEM_CELLS = 2;
const HUNDRED = { functions: 10, perFunction: 10, memory: "16MiB", memoryBytes: 16 * MiB };
const BUDGET_BYTES = HUNDRED.functions * HUNDRED.perFunction * HUNDRED.memoryBytes;
const SETTINGS: Settings = {
  rounds: ROUNDS,
  coldFunction: { memory: "128MiB", cpu: 0.5, idleTimeout: "300ms", stemCells: STEM_CELLS },
  warmFunction: { cpu: 1, concurrency: 32, instances: 1 },
  hundred: { functions: HUNDRED.functions, perFunction: HUNDRED.perFunction, memory: HUNDRED.memory, budget: `${BUDGET_BYTES / MiB}MiB` },
};
const COLD_LIMITS = { memoryBytes: 128 * MiB, cpu: 0.5, pids: 64, tmpBytes: 16 * MiB };

const say = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const q = (s: string) => JSON.stringify(s); // a TOML basic string

function configFull(fns: string): string {
  return `[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 0
idle_timeout = "${SETTINGS.coldFunction.idleTimeout}"

[defaults]
memory = "${SETTINGS.coldFunction.memory}"
cpu = ${SETTINGS.coldFunction.cpu}

[functions.cold]
dir = ${q(join(fns, "cold"))}
min_instances = 0

[functions.warm]
dir = ${q(join(fns, "warm"))}
cpu = ${SETTINGS.warmFunction.cpu}
concurrency = ${SETTINGS.warmFunction.concurrency}
min_instances = 1
max_instances = 1

[functions.idle]
dir = ${q(join(fns, "idle"))}
min_instances = 1
max_instances = 1
`;
}

function configStem(fns: string): string {
  return `[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = ${STEM_CELLS}
idle_timeout = "${SETTINGS.coldFunction.idleTimeout}"

[defaults]
memory = "${SETTINGS.coldFunction.memory}"
cpu = ${SETTINGS.coldFunction.cpu}

[functions.viastem]
dir = ${q(join(fns, "viastem"))}
min_instances = 0

[functions.warmref]
dir = ${q(join(fns, "warmref"))}
min_instances = 1
max_instances = 1
`;
}

function configHundred(fns: string, names: string[]): string {
  return `[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 0
memory_budget = "${SETTINGS.hundred.budget}"
idle_timeout = "5m"

${names
  .map(
    (n) => `[functions.${n}]
dir = ${q(join(fns, n))}
memory = "${HUNDRED.memory}"
min_instances = ${HUNDRED.perFunction}
max_instances = ${HUNDRED.perFunction}
`,
  )
  .join("\n")}`;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  if (process.getuid?.() !== 0) {
    say("fnrun runs containers with runc and creates cgroups: run the benchmark as root.");
    return 1;
  }
  const missing: string[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  let cleaning: Promise<void> | null = null;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (const step of cleanups.reverse().splice(0)) await step().catch((err: Error) => say(`cleanup: ${err.message}`));
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    say(`${sig}: stopping everything the benchmark started`);
    void cleanUp().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const tmp = await mkdtemp(join(tmpdir(), "fnrun-bench-"));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const fns = join(tmp, "fns");
  const hundredNames = Array.from({ length: HUNDRED.functions }, (_, i) => `f${i}`);
  for (const name of ["cold", "warm", "idle", "viastem", "warmref", ...hundredNames]) {
    await mkdir(join(fns, name), { recursive: true });
    await writeFile(join(fns, name, "index.mjs"), HELLO_FUNCTION);
  }

  /** Starts something and registers its stop; null (and a note) when it fails. */
  async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      const msg = (err as Error).message.split("\n").slice(0, 6).join(" / ");
      say(`${what} failed: ${msg}`);
      missing.push(`${what}: ${msg}`);
      return null;
    }
  }
  const stopDaemon = async (d: DaemonProcess) => {
    await d.stop();
    const left = await sweep(d.stateDir);
    if (left > 0) say(`daemon ${d.name} left ${left} containers; removed them`);
  };

  let cold: ColdStartResult | null = null;
  let warm: WarmResult | null = null;
  let sharedCore: SharedCoreResult | null = null;
  let idle: CgroupMemory | null = null;
  let stems: CgroupMemory[] | null = null;
  let hundred: HundredResult | null = null;
  let workers: WorkersResult | null = null;
  const machine = await machineInfo();
  try {
    say(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory}, kernel ${machine.kernel}, node ${machine.node}, runc ${machine.runc}, cgroups ${machine.cgroups}`);
    say("starting two daemons (without and with stem cells), the bare Hono server and the floors' rootfs");
    const [full, stem, bare, floors] = await Promise.all([
      attempt("daemon without stem cells", () => startDaemon("full", join(tmp, "full"), configFull(fns))),
      attempt("daemon with stem cells", () => startDaemon("stem", join(tmp, "stem"), configStem(fns))),
      attempt("bare Hono server", () => startBareHono()),
      attempt("floors", () => setUpFloors(COLD_LIMITS)),
    ]);
    const stopFull = full && (() => stopDaemon(full));
    const stopStem = stem && (() => stopDaemon(stem));
    if (stopFull) cleanups.push(stopFull);
    if (stopStem) cleanups.push(stopStem);
    if (bare) cleanups.push(() => (bare as BareServer).stop());
    if (floors) cleanups.push(() => (floors as Floors).close());

    if (full && stem && floors) {
      say(`cold starts: ${ROUNDS} rounds (+1 warm-up) of 4 floors, a full cold start and a stem-cell start`);
      cold = await attempt("cold starts", () =>
        measureColdStarts({
          floors,
          full: { daemon: full, fn: "cold", url: `${full.url}/cold` },
          stem: { daemon: stem, fn: "viastem", url: `${stem.url}/viastem`, warmUrl: `${stem.url}/warmref` },
          stemCells: STEM_CELLS,
          rounds: ROUNDS,
          onRound: (i) => i >= 0 && (i + 1) % 6 === 0 && say(`  round ${i + 1}/${ROUNDS}`),
        }),
      );
      if (cold && !cold.stemCellsAvailable) missing.push("stem-cell start and stem-cell memory: stem cells not available (no stem cell appeared in the daemon with `stem_cells = 2`)");
    } else missing.push("cold starts: needs both daemons and the floors");
    await floors?.close();

    if (stem && cold?.stemCellsAvailable) {
      stems = await attempt("stem-cell memory", async () => {
        await waitFor("stem cells back", async () => {
          const s = (await stem.functions()).get("viastem");
          return s?.instances === 0 && (await stem.containers()).filter(isStemCell).length === STEM_CELLS;
        }, 10_000);
        return measureStemCells(stem);
      });
    }
    if (stopStem) await stopStem();

    if (full) {
      say("memory of an idle warm instance");
      idle = await attempt("idle instance memory", () => measureIdleInstance(full, "idle", `${full.url}/idle`));
    }
    if (full && bare) {
      say("warm requests: wrk against the bare Hono server, the proxy floor and the gateway");
      const floor = await attempt("proxy floor", async () => startProxyFloor(await instanceSocket(full, "warm")));
      if (floor) cleanups.push(() => floor.stop());
      warm = await attempt("warm requests", () => measureWarm(`${full.url}/warm`, bare.url, { rounds: 5, seconds: 4, gatewayPid: full.pid, floor: floor ?? undefined }));
      if (floor && warm) {
        say("the gateway and the proxy floor on one shared core, loaded at once");
        sharedCore = await attempt("shared core", async () => {
          const ids = (await full.containers()).filter((id) => id.startsWith("warm-"));
          const others = (await Promise.all(ids.map((id) => containerPid(full.stateDir, id)))).filter((p): p is number => p !== null);
          if (others.length === 0) throw new Error("the warm function's container pid not found (runc state)");
          return measureSharedCore({ gateway: { url: `${full.url}/warm`, pid: full.pid }, floor, others });
        });
      }
      await floor?.stop();
    } else missing.push("warm requests: needs the daemon and the bare Hono server");
    if (stopFull) await stopFull();
    await bare?.stop();

    say("gateway workers: workers = 1, 2 and every core against bare Hono on as many processes");
    workers = await attempt("gateway workers", () => measureWorkers({ say }));

    say(`${HUNDRED.functions * HUNDRED.perFunction} warm instances of ${HUNDRED.functions} functions`);
    const many = await attempt("100 warm instances", () => startDaemon("hundred", join(tmp, "hundred"), configHundred(fns, hundredNames)));
    if (many) {
      cleanups.push(() => stopDaemon(many));
      hundred = await attempt("100 warm instances", async () => {
        await waitFor("100 containers", async () => (await many.containers()).length >= HUNDRED.functions * HUNDRED.perFunction, 20_000, 100).catch(() => {});
        return measureHundred(many, hundredNames, HUNDRED.perFunction, HUNDRED.memoryBytes, BUDGET_BYTES);
      });
    }
  } finally {
    say("stopping everything");
    await cleanUp();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }

  const markdown = renderMarkdown({ machine, settings: SETTINGS, cold, warm, sharedCore, idle, stems, hundred, workers, missing, totalSeconds: (performance.now() - t0) / 1000, loadAtEnd: (await readFile("/proc/loadavg", "utf8").catch(() => "")).split(" ")[0] ?? "" });
  await writeReport(join(ROOT, "BENCHMARKS.md"), markdown);
  process.stdout.write(markdown);
  say("written to BENCHMARKS.md");
  return missing.some((m) => !m.startsWith("stem-cell start")) ? 1 : 0;
}

process.exitCode = await main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? err}`);
  return 1;
});
