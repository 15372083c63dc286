/**
 * @module gateway/proxy
 * Forwards one HTTP request to a leased instance over its unix socket and streams the
 * answer back: node streams both ways, no web Request/Response on this path, so bodies of
 * any size pass through with backpressure and are never held whole.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Transform, pipeline } from "node:stream";
import type { Lease, Outcome } from "../runtime/function-pool.ts";
import { GatewayError, httpErrorFor } from "./errors.ts";

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
  /** Set when the function itself reported a failure (threw, failed to initialize). */
  functionError?: string;
}

/** RFC 9110 §7.6.1: connection-specific fields are not forwarded by a proxy. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "http2-settings"]);

function forwardHeaders(headers: IncomingHttpHeaders, opts: ProxyOptions, deadline: number): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    // A client never speaks for the platform: x-fnrun-* is ours alone.
    if (v === undefined || HOP_BY_HOP.has(k) || k.startsWith("x-fnrun-")) continue;
    out[k] = v;
  }
  out["x-fnrun-invocation-id"] = opts.invocationId;
  out["x-fnrun-deadline"] = String(deadline);
  return out;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
}

/** Counts bytes and fails the stream past `limit`, so a chunked body is never buffered whole. */
function bodyLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) done(new GatewayError("FNRUN_BODY_TOO_LARGE", `request body exceeds gateway.max_body (${limit} bytes)`));
      else done(null, chunk);
    },
  });
}

/** Writes an error as the JSON answer when nothing has been sent yet; else cuts the response. */
export function sendError(res: ServerResponse, err: unknown): number {
  const e = httpErrorFor(err);
  if (res.headersSent) {
    res.destroy();
    return e.status;
  }
  const body = JSON.stringify(e.body);
  res.writeHead(e.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...e.headers });
  res.end(body);
  return e.status;
}

/**
 * Proxies `req` to the lease's instance and answers `res`. Resolves when the exchange is
 * over (never rejects); the caller releases the lease with the returned outcome.
 */
export function proxy(req: IncomingMessage, res: ServerResponse, lease: Lease, opts: ProxyOptions): Promise<ProxyResult> {
  return new Promise<ProxyResult>((resolve) => {
    const deadline = Date.now() + opts.timeoutMs;
    const abort = new AbortController();
    let settled = false;
    let timedOut = false;
    let tooLarge: GatewayError | null = null;

    const finish = (result: ProxyResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const fail = (err: unknown) => {
      abort.abort();
      if (timedOut) {
        const status = sendError(res, new GatewayError("FNRUN_TIMEOUT", `function \`${opts.fn}\` did not answer within its timeout of ${opts.timeoutMs} ms`));
        return finish({ status, outcome: "timeout" });
      }
      if (tooLarge) return finish({ status: sendError(res, tooLarge), outcome: "ok" });
      // The client went away: the instance did nothing wrong.
      if (req.destroyed && !req.complete) return finish({ status: 499, outcome: "ok" });
      if (res.destroyed && !res.writableFinished) return finish({ status: 499, outcome: "ok" });
      const crashed = new GatewayError("FNRUN_FUNCTION_CRASHED", `function \`${opts.fn}\` crashed or closed the connection: ${(err as Error)?.message ?? err}`, "system", { cause: err });
      finish({ status: sendError(res, crashed), outcome: "crashed" });
    };

    const timer = setTimeout(() => {
      timedOut = true;
      fail(null);
    }, opts.timeoutMs);

    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > opts.maxBodyBytes) {
      tooLarge = new GatewayError("FNRUN_BODY_TOO_LARGE", `request body of ${declared} bytes exceeds gateway.max_body (${opts.maxBodyBytes} bytes)`);
      req.resume(); // drain what the client already sent, without keeping it
      return fail(tooLarge);
    }

    let body: Transform | null = null;
    if (hasBody(req)) {
      body = bodyLimit(opts.maxBodyBytes);
      pipeline(req, body, (err) => {
        if (err instanceof GatewayError) tooLarge = err;
      });
    }

    lease.instance.dispatcher.request(
      {
        method: req.method as "GET",
        path: opts.path,
        headers: forwardHeaders(req.headers, opts, deadline),
        body,
        signal: abort.signal,
      },
      (err, data) => {
        if (err) return fail(err);
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(data.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
        const functionError = typeof headers["x-fnrun-error"] === "string" ? (headers["x-fnrun-error"] as string) : undefined;
        res.writeHead(data.statusCode, headers);
        pipeline(data.body, res, (perr) => {
          if (perr) return fail(perr);
          finish({ status: data.statusCode, outcome: "ok", functionError });
        });
      },
    );
  });
}
