/**
 * @module bench/gateway-vs-hono
 * Warm requests through the fnrun gateway (a real `fnrun up`, the hello function in a runc
 * container) against a bare Hono hello server (@hono/node-server), both measured by wrk in
 * the same run on 127.0.0.1. Prints req/s, p50 and p99 of each and the ratio.
 *
 *   node --import tsx bench/gateway-vs-hono.ts [--duration 10] [--connections 32] [--rounds 1] [--cpu-prof DIR]
 *
 * Every child gets a minimal env (this shell's NODE_EXTRA_CA_CERTS costs ~45 ms a start).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname, "..");
const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" };

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const HONO_HELLO = `
import { serve } from "@hono/node-server";
import { Hono } from "hono";
const app = new Hono();
app.get("/hello", (c) => c.text("hello, world\\n"));
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => console.log("listening " + info.port));
`;

function msOf(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) throw new Error(`wrk: cannot read latency \`${v}\``);
  return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
}

/** Runs wrk against `url` for `seconds` (bounded: killed past seconds + 15). */
export function wrk(url: string, seconds: number, connections: number): WrkResult {
  const out = spawnSync("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", url], { encoding: "utf8", timeout: (seconds + 15) * 1000, env: ENV });
  if (out.status !== 0) throw new Error(`wrk ${url}: exit ${out.status}: ${out.stderr}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p50 = /\b50%\s+(\S+)/.exec(text)?.[1];
  const p99 = /\b99%\s+(\S+)/.exec(text)?.[1];
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  if (!rps || !p50 || !p99) throw new Error(`wrk ${url}: cannot read its output:\n${text}`);
  return { rps, p50Ms: msOf(p50), p99Ms: msOf(p99), errors };
}

/** Spawns a node child and resolves with the first stdout/stderr match of `ready`. */
function startChild(args: string[], ready: RegExp, timeoutMs = 120_000): Promise<{ child: ChildProcess; match: RegExpExecArray; stop(): Promise<void> }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => (void stop(), reject(new Error(`${args.join(" ")}: not ready within ${timeoutMs} ms:\n${log}`))), timeoutMs);
    const check = (d: Buffer) => {
      log += d;
      const m = ready.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, match: m, stop });
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    void exited.then(() => (clearTimeout(timer), reject(new Error(`${args.join(" ")} exited before it was ready:\n${log}`))));
  });
}

async function measure(url: string, seconds: number, connections: number): Promise<WrkResult> {
  wrk(url, 2, connections); // warm-up: JIT, connections, the instance's first requests
  return wrk(url, seconds, connections);
}

export async function gatewayVsHono(opts: { seconds: number; connections: number; cpuProfDir?: string }) {
  const dir = await mkdtemp(join(tmpdir(), "fnrun-bench-"));
  try {
    const honoFile = join(ROOT, "bench", `.hono-hello-${process.pid}.mjs`);
    await writeFile(honoFile, HONO_HELLO);
    let hono: WrkResult;
    try {
      const bare = await startChild([honoFile], /listening (\d+)/);
      try {
        hono = await measure(`http://127.0.0.1:${bare.match[1]}/hello`, opts.seconds, opts.connections);
      } finally {
        await bare.stop();
      }
    } finally {
      await rm(honoFile, { force: true });
    }

    // One warm instance that may use both cores and take every connection wrk opens, so the
    // gateway, not the function's CPU quota or a second cold start, is what is measured.
    const config = `
[gateway]
listen = "127.0.0.1:0"
[daemon]
state_dir = "${dir}/.fnrun"
[functions.hello]
dir = "${ROOT}/functions/hello"
routes = ["GET /hello"]
cpu = 2
memory = "128MiB"
concurrency = ${Math.max(16, opts.connections)}
min_instances = 1
max_instances = 1
`;
    await writeFile(join(dir, "config.toml"), config);
    const prof = opts.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
    const daemon = await startChild([...prof, join(ROOT, "bin/fnrun.mjs"), "up", "--config", join(dir, "config.toml")], /gateway listening on (http:\/\/[^"\s]+)/);
    let gateway: WrkResult;
    try {
      gateway = await measure(`${daemon.match[1]}/hello`, opts.seconds, opts.connections);
    } finally {
      await daemon.stop();
    }
    return { hono, gateway, ratio: gateway.rps / hono.rps, p99Ratio: gateway.p99Ms / hono.p99Ms };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { duration: { type: "string", default: "10" }, connections: { type: "string", default: "32" }, rounds: { type: "string", default: "1" }, "cpu-prof": { type: "string" } } });
  const fmt = (r: WrkResult) => `${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms${r.errors ? `  errors ${r.errors}` : ""}`;
  for (let i = 0; i < Number(values.rounds); i++) {
    const r = await gatewayVsHono({ seconds: Number(values.duration), connections: Number(values.connections), cpuProfDir: values["cpu-prof"] });
    console.log(`bare hono      ${fmt(r.hono)}`);
    console.log(`fnrun gateway  ${fmt(r.gateway)}`);
    console.log(`ratio          ${r.ratio.toFixed(2)}× req/s   p99 ${r.p99Ratio.toFixed(2)}× bare`);
  }
}
