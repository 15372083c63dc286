/**
 * @module runtime/bootstrap/standalone
 * The bootstrap without fnrun (docker run, Kubernetes, runc by hand): HTTP/1.1 on TCP
 * `0.0.0.0:$PORT`, facing clients directly, so it does itself what fnrun's gateway does for
 * the same function: the same status, body and function headers (x-fnrun-* and hop-by-hop
 * fields of the function's answer dropped, a Date added), `/__fnrun/...` refused with the
 * gateway's 400 except the probe `GET /__fnrun/health`, clients' x-fnrun-* headers never
 * trusted, an invocation id of its own per request, node's default server timeouts, and a
 * drain on SIGTERM (drain.ts). Logs are the function's lines as written: no daemon is there
 * to take invocation markers off.
 *
 * A function that fails to import is fatal here (exit 1): Docker shows the container exited
 * and Kubernetes restarts it (CrashLoopBackOff) with the error in its log.
 */
import { createServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Drain } from "./drain.ts";
import { functionEnv, loadFunction, type Handler } from "./function-module.ts";
import { listenOnTcp } from "./listener.ts";
import { takePlatformHeaders } from "./platform-headers.ts";
import { createFunctionListener, kPlatform, sendJson, type PlatformRequest } from "./request-path.ts";
import { HEALTH_PATH } from "./reserved-paths.ts";

const PLATFORM_PREFIX = "/__fnrun";
/** What fnrun's public gateway answers a client's /__fnrun/ request (gateway/request-limits.ts, errors.ts). */
const RESERVED_BODY = { error: "bad request", code: "FNRUN_BAD_REQUEST", message: "bad request target: paths under /__fnrun/ are reserved for fnrun" };

/**
 * Header fields of a function's answer that fnrun's gateway does not pass on (gateway/proxy.ts
 * `dropped`): the platform's x-fnrun-* and the connection-specific ones (RFC 9110 §7.6.1).
 * Copied, not imported: the bootstrap is bundled alone and runtime/ never imports gateway/.
 */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "http2-settings", "expect"]);
function dropped(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith("x-fnrun-") || HOP_BY_HOP.has(lower);
}

/** The headers given to writeHead without the dropped fields; the caller's object is never changed. */
function filtered(headers: OutgoingHttpHeaders | unknown[]): OutgoingHttpHeaders | unknown[] {
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) return (headers as [string, unknown][]).filter(([name]) => !dropped(name));
    const out: unknown[] = [];
    for (let i = 0; i < headers.length; i += 2) if (!dropped(String(headers[i]))) out.push(headers[i], headers[i + 1]);
    return out;
  }
  let out: OutgoingHttpHeaders | undefined;
  for (const name in headers) {
    if (!dropped(name)) continue;
    out ??= { ...headers };
    delete out[name];
  }
  return out ?? headers;
}

/** A response that drops what the gateway would drop, whoever writes its head (response-writer.ts, sendJson, node itself). */
class StandaloneResponse extends ServerResponse {}
const writeHead = ServerResponse.prototype.writeHead as (this: ServerResponse, status: number, ...rest: unknown[]) => ServerResponse;
StandaloneResponse.prototype.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
  for (const name of this.getHeaderNames()) if (dropped(name)) this.removeHeader(name);
  const last = rest.length - 1;
  if (last >= 0 && rest[last] && typeof rest[last] === "object") rest[last] = filtered(rest[last] as OutgoingHttpHeaders);
  return writeHead.call(this, status, ...rest);
} as typeof ServerResponse.prototype.writeHead;

/** `/__fnrun` or anything below it, as the gateway matches it (no decoding). */
function isPlatformPath(url: string): boolean {
  if (!url.startsWith(PLATFORM_PREFIX)) return false;
  const c = url.charCodeAt(PLATFORM_PREFIX.length);
  return Number.isNaN(c) || c === 47 /* / */ || c === 63; /* ? */
}

/**
 * Invocation ids: unique per container (a random prefix: every container's pid is 1) and cheap (a counter).
 * node:crypto is imported only here, in this mode: loading it costs every start ~4 ms of CPU.
 */
let idPrefix = "";
let seq = 0;

export interface StandaloneOptions {
  port: number;
  entry: string | undefined;
  drainTimeoutMs: number;
}

export async function serveStandalone(o: StandaloneOptions): Promise<void> {
  // pid 1 of a container gets no default handlers: without these SIGTERM would be ignored.
  // Before the server exists there is nothing to drain.
  let drain: Drain | undefined;
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => (drain ? drain.start(sig) : process.exit(0)));
  if (!o.entry) {
    console.error("fnrun: no function to serve: FNRUN_ENTRY is not set (is this fnrun's base image?): run a function image, or set FNRUN_ENTRY to the path of a function's bundle");
    process.exit(1);
  }
  idPrefix = (await import("node:crypto")).randomBytes(4).toString("hex");
  const env = functionEnv();
  let handler: Handler;
  try {
    handler = (await loadFunction(o.entry)).fetch;
  } catch (err) {
    console.error(`fnrun: function failed to initialize: ${o.entry}:`, err);
    process.exit(1);
  }

  const server = createServer({ ServerResponse: StandaloneResponse });
  // Clients are external now: node's own defaults (slow clients cut off, idle connections closed),
  // stated here because fnrun's socket mode turns all three off.
  server.headersTimeout = 60_000;
  server.requestTimeout = 300_000;
  server.keepAliveTimeout = 5_000;
  const drainer = new Drain(server, o.drainTimeoutMs);
  const serveFunction = createFunctionListener({ slot: { handler, initError: undefined }, env, waitUntil: drainer.waitUntil });

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    drainer.track(res);
    const url = req.url ?? "/";
    if (url.charCodeAt(1) === 95 /* _ */ && isPlatformPath(url)) {
      req.resume();
      const path = url.split("?", 1)[0];
      if (path === HEALTH_PATH && (req.method === "GET" || req.method === "HEAD")) {
        return drainer.draining ? sendJson(res, 503, { ok: false, error: "draining", message: "this container is stopping" }) : sendJson(res, 200, { ok: true });
      }
      return sendJson(res, 400, RESERVED_BODY);
    }
    takePlatformHeaders(req); // a client's x-fnrun-* are dropped, never trusted
    (req as PlatformRequest)[kPlatform] = { invocationId: `${idPrefix}-${(++seq).toString(36)}` };
    void serveFunction(req, res);
  });

  // No warm-up of node's fetch classes before the port opens: the light ones (web/) serve a
  // function that does not call fetch() itself, and the first request finds them compiled enough.
  let port: number;
  try {
    port = await listenOnTcp(server, o.port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const fix = code === "EADDRINUSE" ? ": something else listens there; choose another PORT"
      : code === "EACCES" ? ": a port below 1024 needs a privilege the image's user may lack; use PORT=8080"
      : "";
    console.error(`fnrun: cannot listen on 0.0.0.0:${o.port}: ${code ?? (err as Error).message}${fix}`);
    process.exit(1);
  }
  drain = drainer; // signals drain from here on
  console.log(`fnrun: listening on http://0.0.0.0:${port} (function ${o.entry})`);
}
