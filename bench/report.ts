/**
 * @module bench/report
 * The machine a run happened on, and the results as one markdown document: printed to the
 * terminal and written to BENCHMARKS.md. Medians and ratios of the same run only.
 */
import { readFile, writeFile } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { cgroupMode } from "../runtime/cgroup.ts";
import { ROOT } from "./daemon.ts";
import type { ColdStartResult } from "./cold-start.ts";
import type { FloorKind } from "./floors.ts";
import { fmtMiB, fmtMs, median, MiB, quantile, sh } from "./lib.ts";
import type { CgroupMemory, HundredResult } from "./memory.ts";
import type { WarmResult, WarmRound, WarmSide } from "./warm.ts";
import type { SharedCoreResult } from "./shared-core.ts";
import type { WorkersResult } from "./workers.ts";

export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  node: string;
  runc: string;
  wrk: string;
  cgroups: string;
  date: string;
  /** The fnrun commit benchmarked ("+ local changes" when the checkout differs from it). */
  revision: string;
  /** /proc/loadavg's 1-minute figure when the run began (other work on the machine shows here). */
  load: string;
}

export async function machineInfo(): Promise<Machine> {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const runc = (await sh("runc", ["--version"]).catch(() => "runc: not found")).split("\n")[0].replace(/^runc version /, "");
  const wrk = (await sh("wrk", ["-v"]).catch((e: { stdout?: string }) => e.stdout ?? "")).split("\n")[0].split(" [")[0] || "wrk";
  const mode = cgroupMode();
  const git = (args: string[]) => sh("git", ["-C", ROOT, ...args]).then((o) => o.trim(), () => "");
  const head = await git(["log", "-1", "--format=%h %s"]);
  const dirty = (await git(["status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench", ":!BENCHMARKS.md", ":!package.json"])) !== "";
  const load = (await readFile("/proc/loadavg", "utf8").catch(() => "")).split(" ")[0] ?? "";
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    runc,
    wrk,
    cgroups: mode === "hybrid" ? "hybrid (v1 controllers, v2 mount holding no memory controller)" : mode,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    revision: head ? `${head.length > 72 ? `${head.slice(0, 72)}…` : head}${dirty ? " + local changes" : ""}` : "unknown (not a git checkout)",
    load,
  };
}

export interface Settings {
  rounds: number;
  coldFunction: { memory: string; cpu: number; idleTimeout: string; stemCells: number };
  warmFunction: { cpu: number; concurrency: number; instances: number };
  hundred: { functions: number; perFunction: number; memory: string; budget: string };
}

export interface Results {
  machine: Machine;
  settings: Settings;
  cold: ColdStartResult | null;
  warm: WarmResult | null;
  /** The gateway's and the floor's CPU per request on one shared core (bench/shared-core.ts); null when not measured. */
  sharedCore: SharedCoreResult | null;
  idle: CgroupMemory | null;
  stems: CgroupMemory[] | null;
  hundred: HundredResult | null;
  workers: WorkersResult | null;
  /** Parts that could not be measured, with why. */
  missing: string[];
  totalSeconds: number;
  loadAtEnd: string;
}

const FLOOR_LABEL: Record<FloorKind, string> = {
  hostPlain: "floor: host `node`, node:http on a unix socket",
  hostBootstrap: "floor: host `node`, fnrun bootstrap + hello bundle",
  runcPlain: "floor: runc (fnrun's spec and base rootfs), node:http on a unix socket",
  runcBootstrap: "floor: runc (fnrun's spec and base rootfs), bootstrap + hello bundle",
};

function row(cells: Array<string | number>): string {
  return `| ${cells.join(" | ")} |`;
}

function verdict(met: boolean | null): string {
  return met === null ? "not measured" : met ? "**met**" : "**not met**";
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
}

export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  const m = r.machine;
  out.push("# fnrun benchmarks", "");
  out.push(
    "Written by `npm run bench` (bench/run.ts); rerun it to refresh this file. Everything below was",
    "measured in one run on one machine, side by side; the machines are noisy, so read the medians",
    "and the ratios between rows, not single numbers.",
    "",
  );
  out.push("## Machine", "");
  out.push(row(["", ""]), row(["---", "---"]));
  out.push(row(["cpu", `${m.cpu}`]), row(["cores", m.cores]), row(["memory", m.memory]), row(["kernel", m.kernel]));
  out.push(row(["node", m.node]), row(["runc", m.runc]), row(["load generator", m.wrk]), row(["cgroups", m.cgroups]), row(["date", m.date]));
  out.push(row(["fnrun", m.revision.replace(/\|/g, "\\|")]), row(["load average (1 min) at the start", m.load]));
  out.push("");
  if (Number(m.load) > m.cores) {
    out.push(
      `The load average (${m.load} on ${m.cores} cores) says other work was competing for the CPUs during this run: the absolute`,
      "milliseconds are inflated and the tails wide; the ratios between rows measured in the same rounds hold up better.",
      "",
    );
  }

  // Cold starts.
  out.push("## Cold start to first response", "");
  const c = r.cold;
  const runcFloor = c ? median(c.floors.runcPlain) : NaN;
  if (c) {
    const s = r.settings.coldFunction;
    out.push(
      `${c.rounds} rounds; each round takes one sample of every row, in table order. Function limits: memory ${s.memory}, cpu ${s.cpu}`,
      `(the floors' containers get the same limits). ms from the request (or the spawn) to the end of the first 200 response, timed by`,
      `node:http in the benchmark's process, except the stem-cell start's first row: curl's \`time_total\`, the target's terms.`,
      "",
    );
    out.push(row(["what", "median ms", "p10", "p90", "n", "÷ runc floor"]), row(["---", "---:", "---:", "---:", "---:", "---:"]));
    const line = (label: string, xs: number[], na?: string) =>
      xs.length === 0
        ? row([label, na ?? "n/a", "", "", 0, ""])
        : row([label, fmtMs(median(xs)), fmtMs(quantile(xs, 0.1)), fmtMs(quantile(xs, 0.9)), xs.length, ratio(median(xs), runcFloor)]);
    const noStem = c.stemCellsAvailable ? "n/a (no request was served by a stem cell)" : "n/a (stem cells not available)";
    out.push(line("stem-cell start through the gateway (curl)", c.stem, noStem));
    out.push(line("stem-cell start through the gateway (node:http client)", c.stemNode, noStem));
    if (c.warmCurl.length) out.push(line("floor: a warm request through the same gateway, new connection (curl)", c.warmCurl));
    out.push(line("full cold start through the gateway", c.cold));
    for (const k of ["runcBootstrap", "runcPlain", "hostBootstrap", "hostPlain"] as FloorKind[]) out.push(line(FLOOR_LABEL[k], c.floors[k]));
    out.push("");
    const kinds = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    out.push(
      `How the gateway served the cold-start requests (\`x-fnrun-start\`${c.startHeader ? "" : " not sent by this build: inferred"}):`,
      `daemon without stem cells: ${kinds(c.coldKinds)}; daemon with ${c.stemCells} stem cells: ${kinds(c.stemKinds)}.`,
      "",
    );
  } else out.push("not measured", "");

  // Warm.
  out.push("## Warm requests", "");
  const w = r.warm;
  if (w) {
    const s = r.settings.warmFunction;
    const n = w.rounds.length;
    out.push(
      `${n} alternating rounds of \`wrk -t1 -c${w.connections} -d${w.seconds}s --latency\` on 127.0.0.1: each round runs the bare server, ${w.floor ? "the proxy floor, " : ""}then the gateway,`,
      `after an unmeasured ${w.warmupSeconds} s warm-up of each. The table gives medians over the ${n} runs of each. The gateway fronts ${s.instances} warm instance`,
      `(cpu ${s.cpu}, concurrency ${s.concurrency}) of the hello function; the bare server is a Hono hello app on @hono/node-server in its own node process.`,
      "",
    );
    out.push(row(["target", "median req/s", "median p50 ms", "median p99 ms", "requests (all runs)", "errors (all runs)"]), row(["---", "---:", "---:", "---:", "---:", "---:"]));
    const sides: Array<[string, WarmSide]> = [["gateway → instance", w.gateway]];
    if (w.floor) sides.push(["proxy floor → same instance", w.floor]);
    sides.push(["bare Hono", w.bare]);
    for (const [label, x] of sides) out.push(row([label, Math.round(x.reqPerSec), fmtMs(x.p50Ms), fmtMs(x.p99Ms), x.requests, x.errors]));
    const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "n/a");
    out.push(row(["gateway ÷ bare (median of the per-round ratios)", times(w.reqPerSecRatio), times(w.p50Ratio), times(w.p99Ratio), "", ""]));
    out.push("");
    if (w.gatewayCpuUsPerRequest !== null) {
      const floorCpu = w.floorCpuUsPerRequest === null ? "" : `; the proxy floor's: median ${w.floorCpuUsPerRequest.toFixed(1)} µs`;
      out.push(`Gateway CPU per request (the \`fnrun up\` process, user + system from /proc/<pid>/stat, over the requests of its run): median ${w.gatewayCpuUsPerRequest.toFixed(1)} µs${floorCpu}.`, "");
    }
    const sc = r.sharedCore;
    if (sc) {
      out.push(
        `On one shared core, loaded at the same moment (bench/shared-core.ts: the two processes pinned to one core, wrk and the instance to another, \`wrk -t1 -c${sc.connections}\` on each, ${sc.rounds.length} rounds of ${sc.seconds} s after one unmeasured),`,
        `the gateway's CPU per request is **${sc.ratio.toFixed(3)}×** the floor's (median of the rounds; the floor against a copy of itself gave a median of 1.00, rounds 0.98 to 1.07). Each round, gateway / floor µs: ${sc.rounds.map((x, i) => `${i + 1}: ${x.gatewayUsPerRequest.toFixed(1)} / ${x.floorUsPerRequest.toFixed(1)} = ${x.ratio.toFixed(3)}`).join(" · ")}.`,
        "",
      );
    }
    if (w.floor) {
      out.push(
        `The proxy floor (bench/proxy-floor.mjs) is the gateway's design with nothing of fnrun in it: node:http in, undici \`Pool.dispatch\` out over the same`,
        `instance's unix socket, no routing, limits, lease, timeout, metrics or log. It reaches ${times(w.floorReqPerSecRatio)} the bare server's req/s, and the gateway ${w.gatewayOfFloor.toFixed(3)}× the floor's (medians of the per-round ratios; three decimals, as the target is 0.85×).`,
        `The floor and the bare server start with runtime/tick-shape.mjs, as \`fnrun up\` and every instance do: without it a node process can run nextTick on V8's generic path for the rest of its life, from its start or from a full GC while it is idle (README, "Where the warm gap goes").`,
        "",
      );
    }
    const sp = w.slowPath;
    if (sp) {
      const us = (x: number | null) => (x === null ? "not sampled" : `${x.toFixed(2)} µs`);
      out.push(
        `That state's signature in \`perf\` (bench/slow-path.ts: samples a request in V8's runtime stores for new properties while wrk loads the process; 0 in the fast state, 4-7 µs in the slow one):`,
        `after the warm-up gateway ${us(sp.before.gateway)}, proxy floor ${us(sp.before.floor)}; after the rounds gateway ${us(sp.after.gateway)}, proxy floor ${us(sp.after.floor)}.`,
        `A floor in that state flatters the gateway's ratio, a gateway in it lowers it.`,
        "",
      );
    }
    const pair = (x: WarmRound, i: number) =>
      `${i + 1}: ${Math.round(x.gateway.reqPerSec)} / ${Math.round(x.bare.reqPerSec)} = ${ratio(x.gateway.reqPerSec, x.bare.reqPerSec)}${x.floor ? ` (floor ${Math.round(x.floor.reqPerSec)})` : ""} (load ${x.gateway.load})`;
    out.push(`Each round, gateway / bare req/s: ${w.rounds.map(pair).join(" · ")}.`, "");
    const errLines = (x: { raw: string }) => x.raw.split("\n").filter((l) => /Non-2xx|Socket errors/.test(l)).map((l) => l.trim()).join("; ");
    w.rounds.forEach((x, i) => {
      for (const [label, y] of [["gateway", x.gateway], ["proxy floor", x.floor], ["bare Hono", x.bare]] as const) {
        if (y && y.errors > 0) out.push(`Round ${i + 1}'s ${label} run had errors: ${errLines(y)}; it is not a clean measurement.`, "");
      }
    });
  } else out.push("not measured", "");

  // Workers.
  out.push("## Gateway workers", "");
  const wk0 = r.workers;
  if (wk0) {
    out.push(
      `bench/workers.ts: for each count N, a daemon with \`[gateway] workers = N\` in front of N warm instances of the hello function (cpu 1 each), against bare Hono`,
      `run as N node:cluster processes; \`wrk -t min(N,4) -c 32·N\`, ${wk0.rounds} alternating rounds of ${wk0.seconds} s after a warm-up. This machine has ${wk0.cores} cores, shared by wrk, the`,
      "gateway processes and the instances, so more workers than cores measure contention, not scaling.",
      "",
    );
    out.push(row(["workers", "gateway req/s", "gateway p99 ms", "bare Hono ×N req/s", "bare p99 ms", "gateway ÷ bare", "CPU µs/request (daemon + workers)"]), row(["---:", "---:", "---:", "---:", "---:", "---:", "---:"]));
    for (const x of wk0.rows) {
      out.push(row([x.workers, Math.round(x.gateway.reqPerSec), fmtMs(x.gateway.p99Ms), Math.round(x.bare.reqPerSec), fmtMs(x.bare.p99Ms), `${x.ratio.toFixed(2)}×`, x.cpuUsPerRequest === null ? "" : x.cpuUsPerRequest.toFixed(1)]));
    }
    out.push("");
  } else out.push("not measured", "");

  // Memory.
  out.push("## Memory", "");
  out.push(row(["what", "cgroup usage MiB", "of it rss MiB", "limit MiB"]), row(["---", "---:", "---:", "---:"]));
  if (r.idle) out.push(row(["idle warm instance (one request served, then 1.5 s idle)", fmtMiB(r.idle.usage), fmtMiB(r.idle.rss), fmtMiB(r.idle.limit)]));
  else out.push(row(["idle warm instance", "n/a", "", ""]));
  if (r.stems && r.stems.length > 0) {
    out.push(row([`stem cell (median of ${r.stems.length})`, fmtMiB(median(r.stems.map((x) => x.usage))), fmtMiB(median(r.stems.map((x) => x.rss))), fmtMiB(median(r.stems.map((x) => x.limit)))]));
  } else out.push(row(["stem cell", "n/a (stem cells not available)", "", ""]));
  out.push("", "`memory.usage_in_bytes` (v1) / `memory.current` (v2) of `/sys/fs/cgroup/memory/fnrun/<container id>`; rss is `total_rss` of memory.stat.", "");

  const h = r.hundred;
  out.push("## 100 warm instances of 10 functions", "");
  if (h) {
    out.push(
      `${h.functions} functions × min_instances ${h.perFunction}, memory ${r.settings.hundred.memory} each, \`[pool] memory_budget = "${r.settings.hundred.budget}"\`, no stem cells.`,
      "",
    );
    out.push(row(["", ""]), row(["---", "---:"]));
    out.push(row(["containers running (runc list)", h.containers]));
    out.push(row(["instances the pools report", h.poolInstances]));
    out.push(row(["sum of their memory limits", `${fmtMiB(h.limitSum)} MiB`]));
    out.push(row(["sum of their cgroup usage", `${fmtMiB(h.usageSum)} MiB (rss ${fmtMiB(h.rssSum)} MiB)`]));
    out.push(row(["median / max usage of one", `${fmtMiB(h.medianUsage)} / ${fmtMiB(h.maxUsage)} MiB`]));
    out.push(row(["memory budget", `${fmtMiB(h.budget)} MiB`]));
    out.push(row(["functions answering 200 afterwards", `${h.answered} of ${h.functions}`]));
    out.push(row(["`fnrun up` to serving (base image, 10 deploys, 100 instances)", `${fmtMs(h.startupMs)} ms`]));
    out.push("");
  } else out.push("not measured", "");

  // Targets.
  out.push("## Targets", "");
  out.push(row(["target", "measured", "verdict"]), row(["---", "---", "---"]));
  const stemMed = c && c.stem.length ? median(c.stem) : NaN;
  out.push(row(["stem-cell start to first response ≤ 8 ms (median)", c && c.stem.length ? `${fmtMs(stemMed)} ms (curl; ${c.stemNode.length ? fmtMs(median(c.stemNode)) : "n/a"} ms timed by node:http)${c.warmCurl.length ? `; a warm request the same way ${fmtMs(median(c.warmCurl))} ms, so the start adds ${fmtMs(stemMed - median(c.warmCurl))} ms` : ""}` : "n/a (stem cells not available)", verdict(c && c.stem.length ? stemMed <= 8 : null)]));
  const coldMed = c ? median(c.cold) : NaN;
  out.push(
    row([
      "full cold start ≤ 1.3× the runc + node:http floor (medians)",
      c ? `${fmtMs(coldMed)} ms = ${ratio(coldMed, runcFloor)} the runc + node:http floor (${fmtMs(runcFloor)} ms); ${ratio(coldMed, median(c.floors.runcBootstrap))} runc + bootstrap (${fmtMs(median(c.floors.runcBootstrap))} ms)` : "n/a",
      verdict(c && c.cold.length ? coldMed <= 1.3 * runcFloor : null),
    ]),
  );
  out.push(row(["idle instance ≤ 12 MiB of cgroup memory", r.idle ? `${fmtMiB(r.idle.usage)} MiB` : "n/a", verdict(r.idle ? r.idle.usage <= 12 * MiB : null)]));
  out.push(
    row([
      "100 warm instances of 10 functions within the budget",
      h ? `${h.containers} running; limits ${fmtMiB(h.limitSum)} MiB, usage ${fmtMiB(h.usageSum)} MiB, budget ${fmtMiB(h.budget)} MiB` : "n/a",
      verdict(h ? h.containers === h.functions * h.perFunction && h.limitSum <= h.budget && h.usageSum <= h.budget : null),
    ]),
  );
  const ofFloor = w && w.floor ? w.gatewayOfFloor : NaN;
  const p99OfFloor = w && w.floor ? w.gatewayOfFloorP99 : NaN;
  out.push(
    row([
      "gateway ≥ 0.85× the proxy floor's req/s, p99 ≤ 1.5× the floor's p99 (medians of the per-round ratios)",
      w && w.floor ? `${ofFloor.toFixed(3)}× req/s, ${p99OfFloor.toFixed(2)}× p99 (against bare Hono: ${w.reqPerSecRatio.toFixed(2)}× req/s, ${w.p99Ratio.toFixed(2)}× p99)` : "n/a",
      verdict(w && w.floor ? ofFloor >= 0.85 && p99OfFloor <= 1.5 : null),
    ]),
  );
  const wk = r.workers;
  out.push(
    row([
      "gateway workers: req/s with workers = 1, 2, all cores, each against bare Hono on as many processes",
      wk ? wk.rows.map((x) => `${x.workers}: ${Math.round(x.gateway.reqPerSec)} / ${Math.round(x.bare.reqPerSec)} = ${x.ratio.toFixed(2)}×`).join("; ") : "n/a",
      wk ? "reported (no target)" : verdict(null),
    ]),
  );
  out.push("");
  if (r.missing.length) {
    out.push("## Not measured in this run", "");
    for (const x of r.missing) out.push(`- ${x}`);
    out.push("");
  }
  out.push("## How each row is measured", "");
  out.push(
    "- **stem-cell start**: a daemon (`fnrun up`, the real CLI, as a child) with `[pool] stem_cells` set and a function with `min_instances = 0`,",
    "  `idle_timeout = \"300ms\"`. Each round waits until the function has no instance (control API `GET /v1/functions`, container gone",
    "  from `runc list`) and the stem cells are back, then sends one GET on a new connection through the gateway with curl (its",
    "  `time_total`), waits for the same state again and sends one with node:http from the benchmark's own process. The node client",
    "  adds its own work to what it times (about 2 ms a start, measured against curl on the same daemon); the target is read from curl's.",
    "  Last in the round, once the daemon is quiet again, one warm request by curl to another function of the same daemon",
    "  (`min_instances = 1`) on a new connection: every hop of a start but the start itself, the floor of the stem-cell row.",
    "- **full cold start**: the same with a second daemon that has `stem_cells = 0`: the pool starts the function's own image with runc.",
    "- **runc floors**: runtime's `Instance.start` (runc create + start of the OCI spec fnrun generates, same limits, the base rootfs laid out",
    "  from builder/base-layout.ts) until the socket appears, then one GET on the unix socket; the container is stopped after (not timed).",
    "  One runs a plain node:http server, the other fnrun's bootstrap with the hello function's bundle.",
    "- **host floors**: `node` spawned on the host with only PATH and HOME in its env, the same two servers, to the first 200 on the socket.",
    "- **warm**: wrk against the gateway route of a function held at one warm instance, against the proxy floor in front of that same",
    "  instance, and against a bare Hono server; 2 s warm-up each, then short runs in alternating rounds (bare, floor, gateway). Medians",
    "  per side, and the median of each round's ratios: the runs of a round share the machine's background load, so their ratio is",
    "  steadier than any one number. CPU per request from utime + stime of the gateway's (or the floor's) process in /proc/<pid>/stat",
    "  before and after its run, divided by the requests wrk completed.",
    "- **shared core**: the gateway and the proxy floor (in front of the same instance) pinned with `taskset` to one core, the instance's",
    "  container and both wrk processes to another, both loaded at once; CPU per request as above. Every pid gets all cores back after.",
    "- **gateway workers**: one daemon per worker count, each with as many warm instances, and bare Hono on as many node:cluster",
    "  processes; wrk with min(N, 4) threads and 32 connections per process; CPU per request summed over the daemon and its workers.",
    "- **memory**: the cgroup of the container, read right from the kernel's files; container ids from `runc --root <state>/runc list -q`.",
    "",
  );
  out.push(`Whole run: ${Math.round(r.totalSeconds)} s; 1-minute load average at the end: ${r.loadAtEnd}.`, "");
  return out.join("\n");
}

export async function writeReport(path: string, markdown: string): Promise<void> {
  await writeFile(path, markdown);
}
