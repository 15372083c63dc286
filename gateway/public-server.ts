/**
 * @module gateway/public-server
 * The public HTTP listener: limits → route → lease → proxy → release. Plain node:http in
 * front (Hono's router decides the function), so the request path builds no web objects.
 * This listener serves functions only; the control API lives on its own socket, and no
 * path spelling reaches it from here (only origin-form targets are routed, and only to
 * functions).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Lease, StartKind } from "../runtime/function-pool.ts";
import { GatewayError } from "./errors.ts";
import { closeIdleConnections } from "./idle-connections.ts";
import { CHUNKED, Exchange, type ExchangeHooks, nextInvocationId, requestHeaders, sendError } from "./proxy.ts";
import { onClientError, resolveLimits, targetProblem, type RequestLimits } from "./request-limits.ts";
import type { RouteTable } from "./routes.ts";

/** performance.now()'s epoch: read once, since the getter costs ~75 ns a call. */
const TIME_ORIGIN = performance.timeOrigin;

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
  /** Of startMs: container creation (cold) and specialization (stem). */
  createMs?: number;
  specializeMs?: number;
  /** From the request's dispatch to the instance until the function's response head. */
  handlerMs?: number;
  totalMs: number;
  /** When the request arrived (epoch ms; from the monotonic clock the gateway already reads, so no extra clock call per request). */
  at: number;
  functionError?: string;
}

/** An invocation that ran past its function's timeout (its instance is being retired). */
export interface TimeoutEvent {
  fn: string;
  invocationId: string;
  instanceId: string;
  timeoutMs: number;
  method: string;
  /** The request target: path and query. */
  target: string;
}

/** What the gateway needs from the pool (the consumer owns the interface). */
export interface Invoker {
  acquire(name: string): Promise<Lease>;
  /** A warm lease at once when one is free (no promise on the request path); else acquire(). */
  tryAcquire?(name: string): Lease | undefined;
  timeoutOf(name: string): number;
  /** Told when an invocation timed out, so the function's log can say so (see timeout-log.ts). */
  onTimeout?(event: TimeoutEvent): void;
}

export interface PublicServerOptions {
  routes: () => RouteTable;
  invoker: Invoker;
  maxBodyBytes: number;
  /** Header, target and time limits on clients; defaults in request-limits.ts. */
  limits?: Partial<Omit<RequestLimits, "maxBodyBytes">>;
  onInvocation?: (record: InvocationRecord) => void;
}

export function createPublicServer(opts: PublicServerOptions): Server {
  const limits = resolveLimits(opts.maxBodyBytes, opts.limits);
  const server = createServer({
    // Never the lenient parser: it accepts the request-smuggling shapes (CL with TE, bare LF) we refuse.
    insecureHTTPParser: false,
    maxHeaderSize: limits.maxHeaderBytes,
    // Slow clients (slowloris) are cut off instead of holding sockets forever.
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    requireHostHeader: true,
  });
  // Idle keep-alive connections are closed by a sweep, not by node's timer re-armed at every
  // response (idle-connections.ts; with 0, node also leaves out the advisory Keep-Alive header).
  server.keepAliveTimeout = 0;
  closeIdleConnections(server, limits.keepAliveTimeoutMs);
  // node drops fields past maxHeadersCount silently; one more than the limit lets us see "too many".
  server.maxHeadersCount = limits.maxHeadersCount + 1;
  server.on("clientError", onClientError);
  const gateway = new Gateway(opts, limits);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => gateway.handle(req, res));
  return server;
}

/** The request handler and the hooks of every exchange; one per server. */
class Gateway implements ExchangeHooks {
  readonly #opts: PublicServerOptions;
  readonly #limits: RequestLimits;

  constructor(opts: PublicServerOptions, limits: RequestLimits) {
    this.#opts = opts;
    this.#limits = limits;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const url = req.url!;
    const q = url.indexOf("?");
    const pathEnd = q === -1 ? url.length : q;
    const problem = targetProblem(url, pathEnd, this.#limits);
    if (problem) {
      sendError(res, new GatewayError("FNRUN_BAD_REQUEST", `bad request target: ${problem}`));
      return;
    }
    const method = req.method!;
    const path = q === -1 ? url : url.slice(0, q);
    const fn = this.#opts.routes().match(method, path);
    if (!fn) {
      sendError(res, new GatewayError("FNRUN_ROUTE_NOT_FOUND", `no function serves ${method} ${path}`));
      return;
    }

    const raw = req.rawHeaders;
    if (raw.length > this.#limits.maxHeadersCount * 2) {
      sendError(res, new GatewayError("FNRUN_HEADERS_TOO_LARGE", `more than ${this.#limits.maxHeadersCount} header fields`), true);
      return;
    }
    const headers: string[] = [];
    const framing = requestHeaders(raw, headers);
    const body = framing > 0 || framing === CHUNKED;
    if (framing > this.#limits.maxBodyBytes) {
      // Refused before a lease is taken: the function never sees it, nothing of it is read.
      sendError(res, new GatewayError("FNRUN_BODY_TOO_LARGE", `request body of ${framing} bytes exceeds gateway.max_body (${this.#limits.maxBodyBytes} bytes)`), true);
      return;
    }

    const invoker = this.#opts.invoker;
    const init = { fn, invocationId: nextInvocationId(), timeoutMs: invoker.timeoutOf(fn), path: url, headers, body, maxBodyBytes: this.#limits.maxBodyBytes, startedAt: started, immediate: false };
    const warm = invoker.tryAcquire?.(fn);
    if (warm) {
      init.immediate = true;
      new Exchange(req, res, warm, init, this);
      return;
    }
    invoker.acquire(fn).then(
      (lease) => {
        if (res.destroyed) lease.release("ok"); // the client left while we waited
        else new Exchange(req, res, lease, init, this);
      },
      (err) => {
        const status = sendError(res, err, body);
        this.#opts.onInvocation?.({ id: init.invocationId, fn, method, path, status, outcome: "unavailable", kind: null, queueMs: 0, startMs: 0, totalMs: performance.now() - started, at: TIME_ORIGIN + started });
      },
    );
  }

  done(ex: Exchange): void {
    ex.lease.release(ex.outcome);
    const onInvocation = this.#opts.onInvocation;
    if (!onInvocation) return;
    const url = ex.req.url!;
    const q = url.indexOf("?");
    onInvocation({
      id: ex.invocationId,
      fn: ex.fn,
      method: ex.req.method!,
      path: q === -1 ? url : url.slice(0, q),
      status: ex.status,
      outcome: ex.outcome,
      kind: ex.lease.kind,
      queueMs: ex.lease.queueMs,
      startMs: ex.lease.startMs,
      createMs: ex.lease.createMs,
      specializeMs: ex.lease.specializeMs,
      handlerMs: ex.handlerMs,
      totalMs: performance.now() - ex.startedAt,
      at: TIME_ORIGIN + ex.startedAt,
      functionError: ex.functionError,
    });
  }

  timedOut(ex: Exchange): void {
    this.#opts.invoker.onTimeout?.({ fn: ex.fn, invocationId: ex.invocationId, instanceId: ex.lease.instance.id, timeoutMs: ex.timeoutMs, method: ex.req.method!, target: ex.req.url! });
  }
}
