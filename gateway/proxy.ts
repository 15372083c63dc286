/**
 * @module gateway/proxy
 * Forwards one HTTP request to a leased instance over its unix socket and streams the
 * answer back. An Exchange is the undici dispatch handler itself: the function's response
 * head and chunks are written straight into node's ServerResponse, with undici's
 * pause/resume as backpressure, so no web Request/Response, no intermediate stream and no
 * per-request closure sits on the hot path, and bodies of any size pass through unbuffered.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import type { Socket } from "node:net";
import type { Dispatcher } from "undici";
import { Deadlines, type Timed } from "./deadlines.ts";
import type { Lease, Outcome } from "../runtime/function-pool.ts";
import { GatewayError, httpErrorFor } from "./errors.ts";
import { namedAs, startsAs } from "../runtime/bootstrap/header-names.ts";

export { namedAs };

/** What the server around the proxy is told; one object per server, shared by every exchange. */
export interface ExchangeHooks {
  /** The exchange is over (exactly once): release its lease with `ex.outcome`. */
  done(ex: Exchange): void;
  /** The function did not answer within its timeout (before done). */
  timedOut?(ex: Exchange): void;
}

/**
 * True for a header the gateway does not forward (either direction): the platform's own
 * (x-fnrun-*) and the connection-specific ones.
 */
export function dropped(name: string): boolean {
  return startsAs(name, "x-fnrun-") || hopByHop(name);
}

/**
 * RFC 9110 §7.6.1: connection-specific fields are not forwarded by a proxy. `expect` is
 * answered by node itself (100-continue) and undici refuses to send it. By length first: most
 * names are none of these lengths.
 */
function hopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return namedAs(name, "te");
    case 6:
      return namedAs(name, "expect");
    case 7:
      return namedAs(name, "upgrade") || namedAs(name, "trailer");
    case 10:
      return namedAs(name, "connection") || namedAs(name, "keep-alive");
    case 14:
      return namedAs(name, "http2-settings");
    case 16:
      return namedAs(name, "proxy-connection");
    case 17:
      return namedAs(name, "transfer-encoding");
    default:
      return false;
  }
}

/** A body of unknown length follows (Transfer-Encoding); see requestHeaders(). */
export const CHUNKED = -2;

/**
 * One pass over a request's raw headers: fills `out` with those to forward (flat, as undici
 * takes them) and returns the body's framing: its Content-Length, CHUNKED, or -1 for none.
 * node's parser has already refused a request with both, or with two different lengths.
 */
export function requestHeaders(raw: string[], out: string[]): number {
  let framing = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (namedAs(name, "content-length")) framing = Number(raw[i + 1]);
    else if (namedAs(name, "transfer-encoding")) framing = CHUNKED;
    if (!dropped(name)) out.push(name, raw[i + 1]);
  }
  return framing;
}

const kExchange = Symbol("fnrun.exchange");
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange | null };
/** The exchange a client connection is in now, and whether its one close listener is in place. */
const kCurrent = Symbol("fnrun.current");
const kWatched = Symbol("fnrun.watched");
type TaggedSocket = Socket & { [kCurrent]?: Exchange | null; [kWatched]?: boolean };

/** performance.now()'s epoch: epoch ms without a clock call of their own. */
const TIME_ORIGIN = performance.timeOrigin;
/** Every exchange's function timeout (one interval, no timer per request). */
const deadlines = new Deadlines();

let seq = 0;
const ID_PREFIX = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;
/** Unique per daemon run; a counter, not a UUID: it is made for every request. */
export function nextInvocationId(): string {
  return ID_PREFIX + (++seq).toString(36);
}

/**
 * Writes `err` as the JSON answer when nothing has been sent yet; else cuts the response.
 * `close` asks the client to close the connection (its request was not read to the end).
 */
export function sendError(res: ServerResponse, err: unknown, close = false): number {
  const e = httpErrorFor(err);
  if (res.headersSent) {
    res.destroy();
    return e.status;
  }
  const body = JSON.stringify(e.body);
  const headers: OutgoingHttpHeaders = { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...e.headers };
  if (close) headers.connection = "close";
  res.writeHead(e.status, headers);
  res.end(body);
  return e.status;
}

/** Counts request-body bytes and fails past `limit`, so a chunked body is never buffered whole. */
class BodyLimit extends Transform {
  #seen = 0;
  constructor(
    readonly limit: number,
    readonly ex: Exchange,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen <= this.limit) return done(null, chunk);
    const err = new GatewayError("FNRUN_BODY_TOO_LARGE", `request body exceeds gateway.max_body (${this.limit} bytes)`);
    this.ex.bodyTooLarge = err;
    done(err);
  }
}

export interface ExchangeInit {
  fn: string;
  invocationId: string;
  timeoutMs: number;
  /** Request headers to forward, flat `[name, value, ...]`, already without dropped ones. */
  headers: string[];
  /** The path and query the function sees. */
  path: string;
  /** Stream the request body (the request declared one). */
  body: boolean;
  maxBodyBytes: number;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** The lease was free at once: the request is dispatched in the tick it arrived, startedAt serves as the dispatch time (no second clock reading). */
  immediate: boolean;
}

/**
 * `ms` to two decimals, as `ms.toFixed(2)` writes a duration (to within a rounding of its last
 * digit), from integers: toFixed costs ~200 ns a call here, this ~15.
 */
export function ms2(ms: number): string {
  if (!(ms >= 0 && ms < 1e15)) return ms.toFixed(2);
  const hundredths = Math.round(ms * 100);
  const whole = Math.floor(hundredths / 100);
  const rest = hundredths - whole * 100;
  return rest < 10 ? `${whole}.0${rest}` : `${whole}.${rest}`;
}

/** A server-timing duration: ms to two decimals, a warm lease's zero as "0". */
const dur = (ms: number): string => (ms === 0 ? "0" : ms2(ms));
/** The server-timing of a warm lease up to its handler time, which is all that varies. */
const WARM_TIMING = "queue;dur=0, start;dur=0, handler;dur=";

/** One request proxied to one leased instance: the undici dispatch handler for it. */
export class Exchange implements Dispatcher.DispatchHandler, Timed {
  readonly req: IncomingMessage;
  readonly res: TaggedResponse;
  readonly lease: Lease;
  readonly fn: string;
  readonly invocationId: string;
  readonly timeoutMs: number;
  readonly hooks: ExchangeHooks;
  /** The answer given to the client (499: the client went away first). */
  status = 0;
  outcome: Outcome = "ok";
  /** Set when the function itself reported a failure (threw, failed to initialize). */
  functionError: string | undefined = undefined;
  bodyTooLarge: GatewayError | null = null;
  /** performance.now() when the request arrived, when it was dispatched, and ms from then to the response head. */
  readonly startedAt: number;
  dispatchedAt = 0;
  handlerMs = 0;

  // Timed: the links of deadlines.ts's list.
  deadlineAt = 0;
  prevTimed: Timed | null = null;
  nextTimed: Timed | null = null;
  timedList: Timed["timedList"] = null;
  #abort: ((err?: Error) => void) | null = null;
  #cancel: Error | null = null;
  #ended = false;
  #head: string[] | null = null;
  /** The function's Content-Length; -1 when it sent none (chunked, or ended by close). */
  #contentLength = -1;
  #wroteHead = false;
  #held: Buffer | null = null;
  #resume: (() => void) | null = null;
  /** Pipelined behind another request: this exchange rides on its response, not on the connection. */
  #onResponse = false;

  constructor(req: IncomingMessage, res: ServerResponse, lease: Lease, init: ExchangeInit, hooks: ExchangeHooks) {
    this.req = req;
    this.res = res;
    this.lease = lease;
    this.fn = init.fn;
    this.invocationId = init.invocationId;
    this.timeoutMs = init.timeoutMs;
    this.startedAt = init.startedAt;
    this.hooks = hooks;
    this.#start(init);
  }

  #start(init: ExchangeInit): void {
    const { req, res } = this;
    // From the dispatch, as the function sees it (its deadline in x-fnrun-ctx), not from the arrival.
    const now = init.immediate ? init.startedAt : performance.now();
    deadlines.add(this, this.timeoutMs, now);
    // A client that goes away closes its connection: one listener per connection, not per request,
    // and the exchange rides on the connection (a property added to every response would give node's
    // response objects another shape). Pipelined requests share a connection: any but its current
    // one ride on their response, with a close listener of their own.
    const socket = req.socket as TaggedSocket;
    if (!socket[kCurrent]) {
      socket[kCurrent] = this;
      if (!socket[kWatched]) {
        socket[kWatched] = true;
        socket.on("close", onSocketClose);
      }
    } else {
      this.#onResponse = true;
      this.res[kExchange] = this;
      res.on("close", onResponseClose);
    }
    const headers = init.headers;
    // One header for both (runtime/bootstrap/platform-headers.ts): each header costs undici a validation and the instance a parse.
    headers.push("x-fnrun-ctx", `${Math.round(TIME_ORIGIN + now) + this.timeoutMs} ${this.invocationId}`);
    let body: BodyLimit | null = null;
    if (init.body) {
      body = new BodyLimit(init.maxBodyBytes, this);
      req.pipe(body);
    }
    this.dispatchedAt = now;
    this.lease.instance.dispatcher.dispatch({ method: req.method as Dispatcher.HttpMethod, path: init.path, headers, body }, this);
  }

  /** Timed: the function's timeout passed. */
  expire(): void {
    this.timeout();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#cancel) abort(this.#cancel);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, _statusText: string): boolean {
    if (statusCode < 200 || this.#ended) return true; // 1xx: the client gets node's own 100-continue
    this.handlerMs = performance.now() - this.dispatchedAt;
    const head: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toString("latin1");
      if (dropped(name)) {
        if (namedAs(name, "x-fnrun-error")) this.functionError = raw[i + 1].toString("latin1");
        continue;
      }
      const value = raw[i + 1].toString("latin1");
      if (namedAs(name, "content-length")) this.#contentLength = Number(value);
      head.push(name, value);
    }
    const lease = this.lease;
    const handler = ms2(this.handlerMs);
    const timing = lease.queueMs === 0 && lease.startMs === 0 ? WARM_TIMING + handler : `queue;dur=${dur(lease.queueMs)}, start;dur=${dur(lease.startMs)}, handler;dur=${handler}`;
    head.push("x-fnrun-start", lease.kind, "server-timing", timing);
    this.status = statusCode;
    this.#head = head;
    this.#resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#ended) return true; // being aborted: drop
    if (!this.#wroteHead) {
      if (this.#held === null) {
        if (chunk.length === this.#contentLength) {
          // The whole body in the first chunk: head and body go out now, in one write.
          this.#wroteHead = true;
          this.res.writeHead(this.status, this.#head!);
          this.res.end(chunk);
          return true;
        }
        // Hold the first chunk for this tick: a small answer that completes in the same read
        // goes out as one write with a Content-Length instead of three chunked writes.
        this.#held = chunk;
        process.nextTick(flushHeld, this);
        return true;
      }
      this.#flushHead();
    }
    return this.#write(chunk);
  }

  onComplete(_trailers: string[] | null): void {
    if (this.#ended) return;
    const res = this.res;
    if (!this.#wroteHead) {
      this.#wroteHead = true;
      const head = this.#head!;
      const held = this.#held;
      this.#held = null;
      if (this.#contentLength === -1 && this.req.method !== "HEAD" && this.status !== 204 && this.status !== 304) head.push("content-length", String(held ? held.length : 0));
      res.writeHead(this.status, head);
      if (held) res.end(held);
      else res.end();
    } else if (!res.writableEnded) res.end();
    this.#finish();
  }

  onError(err: Error): void {
    if (this.#ended) return;
    if (this.bodyTooLarge) {
      this.status = sendError(this.res, this.bodyTooLarge, true);
    } else if (this.res.destroyed || (this.req.destroyed && !this.req.complete)) {
      this.status = 499; // the client went away: the instance did nothing wrong
    } else {
      this.#crashed(err);
      return;
    }
    this.#finish();
  }

  /**
   * The instance's connection died mid-request. Asks the instance whether the kernel OOM-killed
   * it (its memory cgroup counts kills) before the lease is released, which stops the instance
   * and removes that cgroup; the answer names the cause: out of memory, or crashed.
   */
  #crashed(err: Error): void {
    this.#ended = true; // nothing else answers meanwhile (timer, client close)
    deadlines.remove(this);
    this.outcome = "crashed";
    const asked = this.lease.instance.oomKilled?.().catch(() => false) ?? Promise.resolve(false);
    void asked.then((oom) => {
      if (oom) this.functionError = "oom"; // the invocation record says so (metrics count OOM kills)
      const e = oom
        ? new GatewayError("FNRUN_FUNCTION_OOM", `function \`${this.fn}\` ran out of memory: the kernel killed it at its memory limit (config key \`memory\`)`, "user", { cause: err })
        : new GatewayError("FNRUN_FUNCTION_CRASHED", `function \`${this.fn}\` crashed or closed the connection: ${err?.message ?? err}`, "system", { cause: err });
      this.status = sendError(this.res, e);
      this.#finish();
    });
  }

  /** The client stopped reading: pause the function's response until it drains. */
  #write(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once("drain", onResponseDrain);
    return false;
  }

  #flushHead(): void {
    this.#wroteHead = true;
    this.res.writeHead(this.status, this.#head!);
    const held = this.#held;
    if (held) {
      this.#held = null;
      if (!this.res.write(held)) this.res.once("drain", onResponseDrain);
    }
  }

  flushHeld(): void {
    if (this.#ended || this.#wroteHead || this.#held === null) return;
    this.#flushHead();
  }

  resumeUpstream(): void {
    if (!this.#ended) this.#resume?.();
  }

  /** The client went away before the answer was complete. */
  clientClosed(): void {
    if (this.#ended || this.res.writableFinished) return;
    this.status = 499;
    // Ended first: undici may call onError from inside the abort, and it must find us done.
    this.#finish();
    this.#cancelUpstream(new GatewayError("FNRUN_BAD_REQUEST", "the client closed the connection"));
  }

  timeout(): void {
    if (this.#ended) return;
    const err = new GatewayError("FNRUN_TIMEOUT", `function \`${this.fn}\` did not answer within its timeout of ${this.timeoutMs} ms`);
    this.status = sendError(this.res, err);
    this.outcome = "timeout";
    this.hooks.timedOut?.(this);
    this.#finish();
    this.#cancelUpstream(err);
  }

  #cancelUpstream(err: Error): void {
    if (this.#abort) this.#abort(err);
    else this.#cancel = err; // still queued for a connection: aborted in onConnect
  }

  #finish(): void {
    this.#ended = true;
    this.#held = null;
    deadlines.remove(this);
    const socket = this.req.socket as TaggedSocket;
    if (socket[kCurrent] === this) socket[kCurrent] = null;
    // A response's listeners (pipelining, backpressure) stay: removing one costs more than the call it would save.
    if (this.#onResponse) this.res[kExchange] = null;
    this.hooks.done(this);
  }
}

// Listeners shared by every exchange (no closure per request): the exchange rides on the connection (or its response).
function onResponseClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}
function onSocketClose(this: TaggedSocket): void {
  this[kCurrent]?.clientClosed();
}
function onResponseDrain(this: TaggedResponse): void {
  (this[kExchange] ?? (this.socket as TaggedSocket | null)?.[kCurrent])?.resumeUpstream();
}
function flushHeld(ex: Exchange): void {
  ex.flushHeld();
}

export interface ProxyOptions {
  fn: string;
  invocationId: string;
  timeoutMs: number;
  maxBodyBytes: number;
  /** The path and query the function sees. */
  path: string;
}

export interface ProxyResult {
  status: number;
  outcome: Outcome;
  functionError?: string;
}

/**
 * Proxies `req` to the lease's instance and answers `res` (for callers off the hot path, such
 * as the control API's invoke). Resolves when the exchange is over, never rejects; the caller
 * releases the lease with the returned outcome.
 */
export function proxy(req: IncomingMessage, res: ServerResponse, lease: Lease, opts: ProxyOptions): Promise<ProxyResult> {
  const headers: string[] = [];
  const framing = requestHeaders(req.rawHeaders, headers);
  if (framing > opts.maxBodyBytes) {
    const err = new GatewayError("FNRUN_BODY_TOO_LARGE", `request body of ${framing} bytes exceeds gateway.max_body (${opts.maxBodyBytes} bytes)`);
    return Promise.resolve({ status: sendError(res, err, true), outcome: "ok" });
  }
  return new Promise((resolve) => {
    const init: ExchangeInit = { ...opts, headers, body: framing > 0 || framing === CHUNKED, startedAt: performance.now(), immediate: false };
    new Exchange(req, res, lease, init, { done: (ex) => resolve({ status: ex.status, outcome: ex.outcome, functionError: ex.functionError }) });
  });
}
