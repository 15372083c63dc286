/**
 * @module bench/warm
 * Warm requests: wrk (one thread, 32 connections, keep-alive, loopback only, bounded in time)
 * against the gateway in front of one warm instance, and against a bare Hono hello server
 * (bench/bare-hono.mjs, its own node process) in the same run. Each gets a short unmeasured
 * warm-up run first (JIT, connection pools).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { getWhenUp, MIN_ENV, sh, sleep } from "./lib.ts";

export interface WrkResult {
  url: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx/3xx responses and socket errors: a run with any is not a clean measurement. */
  errors: number;
  /** 1-minute load average right after the run (wrk, the servers, and anything else on the machine). */
  load: string;
  raw: string;
}

export interface BareServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts bench/bare-hono.mjs with a minimal env and resolves with its URL. */
export async function startBareHono(): Promise<BareServer> {
  const child: ChildProcess = spawn(process.execPath, [join(import.meta.dirname, "bare-hono.mjs")], {
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
      void exited.then(() => reject(new Error(`bare Hono server exited: ${err}`)));
      setTimeout(() => reject(new Error("bare Hono server: no port within 10 s")), 10_000).unref();
    });
    const url = `http://127.0.0.1:${port}/hello`;
    await getWhenUp(url);
    return { url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `wrk -t1 -c32 -dNs --latency URL`, parsed. */
export async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const raw = await sh("wrk", ["-t1", "-c32", `-d${seconds}s`, "--timeout", "5s", "--latency", url], (seconds + 20) * 1000);
  const num = (re: RegExp) => {
    const m = re.exec(raw);
    return m ? Number(m[1]) : NaN;
  };
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

export interface WarmResult {
  gateway: WrkResult;
  bare: WrkResult;
  seconds: number;
}

/** Warm-ups, then bare Hono and the gateway, one after the other, `seconds` each. */
export async function measureWarm(gatewayUrl: string, bareUrl: string, seconds = 8): Promise<WarmResult> {
  await wrk(bareUrl, 2);
  await wrk(gatewayUrl, 2);
  await sleep(500);
  const bare = await wrk(bareUrl, seconds);
  await sleep(500);
  const gateway = await wrk(gatewayUrl, seconds);
  return { gateway, bare, seconds };
}
