/**
 * @module bench/lib
 * Small helpers shared by the benchmark modules: a minimal child env, statistics, one-shot
 * HTTP requests on fresh connections (TCP or unix socket), polling, and running commands.
 */
import { execFile } from "node:child_process";
import { request, type RequestOptions } from "node:http";
import { promisify } from "node:util";

/**
 * Children get PATH and HOME only: this shell exports NODE_EXTRA_CA_CERTS, which alone adds
 * ~45 ms and ~1 MiB to every node start (FACTS.md).
 */
export const MIN_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" };

const execFileP = promisify(execFile);

/** Runs a command with the minimal env; resolves with its stdout. */
export async function sh(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { env: MIN_ENV, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** Linear-interpolated quantile (q in 0..1); NaN for an empty list. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export interface Sample {
  ms: number;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One GET on a new connection (no keep-alive agent), timed from the call to the end of the
 * body. `target` is a URL, or `{ socketPath, path }` for a unix socket.
 */
export function get(target: string | { socketPath: string; path: string }, timeoutMs = 15_000): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let opts: RequestOptions;
    if (typeof target === "string") {
      const u = new URL(target);
      opts = { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}` };
    } else opts = { socketPath: target.socketPath, path: target.path, host: "localhost" };
    const req = request({ ...opts, agent: false, method: "GET" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${typeof target === "string" ? target : target.socketPath}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * One GET by curl on a new connection, timed by curl itself (`time_total`: connect to the end of
 * the body), as the issue states the stem-start target. A node client in the benchmark's own
 * process adds its own work to every sample it times: about 2 ms a stem start on this machine,
 * measured side by side (README, "Benchmarks"). Headers are kept, the body is not.
 */
export async function curlGet(url: string, timeoutMs = 15_000): Promise<Sample> {
  const marker = "\nfnrun-bench-total:";
  const out = await sh("curl", ["-sS", "-o", "/dev/null", "-D", "-", "--max-time", String(timeoutMs / 1000), "-w", `${marker}%{time_total}`, url], timeoutMs + 5000);
  const at = out.lastIndexOf(marker);
  const lines = out.slice(0, at).split("\r\n");
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0])?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { ms: Number(out.slice(at + marker.length)) * 1000, status, headers, body: "" };
}

/** GET that retries while the server is not listening yet (ECONNREFUSED/ENOENT), until `timeoutMs`. */
export async function getWhenUp(target: string | { socketPath: string; path: string }, timeoutMs = 10_000): Promise<Sample> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await get(target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ECONNREFUSED" && code !== "ENOENT") || Date.now() > until) throw err;
      await sleep(1);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` every `everyMs` until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 10): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const MiB = 1024 * 1024;

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

export function fmtMiB(bytes: number): string {
  return Number.isFinite(bytes) ? (bytes / MiB).toFixed(1) : "n/a";
}
