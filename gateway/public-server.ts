/**
 * @module gateway/public-server
 * The public HTTP listener: route → lease → proxy → release. Plain node:http in front
 * (Hono's router decides the function), so the request path builds no web objects. This
 * listener serves functions only; the control API lives on its own socket.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Lease, StartKind } from "../runtime/function-pool.ts";
import { GatewayError } from "./errors.ts";
import { proxy, sendError } from "./proxy.ts";
import type { RouteTable } from "./routes.ts";

/** One finished invocation, as the gateway saw it. */
export interface InvocationRecord {
  id: string;
  fn: string;
  method: string;
  path: string;
  status: number;
  outcome: string;
  kind: StartKind | null;
  queueMs: number;
  startMs: number;
  totalMs: number;
  functionError?: string;
}

/** What the gateway needs from the pool (the consumer owns the interface). */
export interface Invoker {
  acquire(name: string): Promise<Lease>;
  timeoutOf(name: string): number;
}

export interface PublicServerOptions {
  routes: () => RouteTable;
  invoker: Invoker;
  maxBodyBytes: number;
  onInvocation?: (record: InvocationRecord) => void;
}

/** Path segments the gateway refuses before routing: they mean nothing good to a function router. */
function badPath(url: string): string | null {
  if (!url.startsWith("/")) return "request target must be an absolute path";
  const path = url.split("?", 1)[0];
  if (path.length > 2048) return "path longer than 2048 bytes";
  if (/%00|\0/.test(path)) return "NUL in path";
  for (const seg of path.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return `malformed percent-encoding in \`${seg}\``;
    }
    if (decoded === ".." || decoded === ".") return "dot segment in path";
  }
  return null;
}

export function createPublicServer(opts: PublicServerOptions): Server {
  const server = createServer(
    {
      // Slow clients (slowloris) are cut off instead of holding sockets forever.
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
      insecureHTTPParser: false,
    },
    (req, res) => void handle(req, res, opts),
  );
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: PublicServerOptions): Promise<void> {
  const started = Date.now();
  const url = req.url ?? "/";
  const invocationId = randomUUID();
  const problem = badPath(url);
  if (problem) {
    sendError(res, new GatewayError("FNRUN_BAD_REQUEST", `bad request path: ${problem}`));
    return;
  }
  const path = url.split("?", 1)[0];
  const fn = opts.routes().match(req.method ?? "GET", path);
  if (!fn) {
    sendError(res, new GatewayError("FNRUN_ROUTE_NOT_FOUND", `no function serves ${req.method} ${path}`));
    return;
  }
  const record: InvocationRecord = { id: invocationId, fn, method: req.method ?? "GET", path, status: 0, outcome: "ok", kind: null, queueMs: 0, startMs: 0, totalMs: 0 };
  let lease: Lease;
  try {
    lease = await opts.invoker.acquire(fn);
  } catch (err) {
    record.status = sendError(res, err);
    record.outcome = "unavailable";
    record.totalMs = Date.now() - started;
    opts.onInvocation?.(record);
    return;
  }
  record.kind = lease.kind;
  record.queueMs = lease.queueMs;
  record.startMs = lease.startMs;
  const result = await proxy(req, res, lease, {
    fn,
    invocationId,
    timeoutMs: opts.invoker.timeoutOf(fn),
    maxBodyBytes: opts.maxBodyBytes,
    path: url,
  });
  lease.release(result.outcome);
  record.status = result.status;
  record.outcome = result.outcome;
  record.functionError = result.functionError;
  record.totalMs = Date.now() - started;
  opts.onInvocation?.(record);
}
