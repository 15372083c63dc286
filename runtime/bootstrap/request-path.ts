/**
 * @module runtime/bootstrap/request-path
 * The request conversion: node's request → the function's `fetch(request, env, ctx)` → its
 * Response written back. Shared by fnrun's socket mode and the standalone TCP mode; what
 * listens, routes platform paths and drains lives elsewhere.
 *
 * No web-platform layer sits in between: the Request is a light one made from node's request
 * (web/request.ts: method, url and the raw headers, the body read from node's request only
 * when the function reads it), and the Response the function makes with the light global
 * class is written from what it holds (response-writer.ts). node's own fetch classes (its
 * undici, ~50 ms of CPU to load) are not loaded for either; @hono/node-server, which this
 * replaced, loaded them and node:http2 at boot (runtime/README.md has the measurements).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, messageOf, settled, type Ctx, type Env, type Handler } from "./function-module.ts";
import { writeResponse } from "./response-writer.ts";
import { FnRequest } from "./web/request.ts";
import { FnResponse } from "./web/response.ts";

/** What the platform says about one request: fnrun's gateway headers, or the standalone front's own id. */
export interface Platform {
  deadline?: number;
  invocationId?: string;
}
/** Where the front puts a request's Platform before handing it to the listener. */
export const kPlatform = Symbol("fnrun.platform");
export type PlatformRequest = IncomingMessage & { [kPlatform]?: Platform };

/** What the listener serves: read on every request, so a stem cell can load (or warm up) later. */
export interface FunctionSlot {
  handler: Handler | undefined;
  /** Why there is no handler (the import threw). */
  initError: unknown;
}

export interface FunctionListenerOptions {
  slot: FunctionSlot;
  env: Env;
  /** Takes what the function passed to ctx.waitUntil() (default: its rejection is logged). */
  waitUntil?: (p: Promise<unknown>) => void;
}

/** A small JSON answer of the bootstrap's own (not the function's). */
export function sendJson(res: ServerResponse, status: number, value: unknown, fnrunError?: string): void {
  const body = JSON.stringify(value);
  const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (fnrunError) headers["x-fnrun-error"] = fnrunError;
  res.writeHead(status, headers);
  res.end(body);
}

/** A request target the url can be built from as it is: origin-form with no character the URL parser would change, no dot segment. */
const PLAIN_TARGET = /^\/[!$&(-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;
/** A Host the URL parser keeps as it is: lower-case name, no default port (80), no leading zero. */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?!80$)[1-9]\d{0,4})?$/;

/**
 * The Request's url: `http://<Host><target>`, as the URL parser would serialize it (the Fetch
 * standard's Request.url is always parsed). The common case is concatenated; anything the
 * parser might change (upper-case host, port 80, dot segments, characters it escapes) goes
 * through new URL(). Throws a TypeError for a target that is no URL.
 */
export function requestUrl(req: IncomingMessage): string {
  const target = req.url ?? "/";
  if (target.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (RFC 9112 §3.2.2), e.g. a client that thinks it talks to a proxy; or "*".
    return new URL(target).href;
  }
  let host = "localhost"; // HTTP/1.0 may omit Host (node refuses an HTTP/1.1 request without one)
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 4 && raw[i].toLowerCase() === "host") {
      host = raw[i + 1];
      break;
    }
  }
  const url = `http://${host}${target}`;
  if (PLAIN_HOST.test(host) && PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)) return url;
  const parsed = new URL(url);
  if (parsed.pathname.charCodeAt(0) !== 47 || parsed.host === "") throw new TypeError(`invalid request target or Host: ${JSON.stringify(target)}, ${JSON.stringify(host)}`);
  return parsed.href;
}

/** ctx.passThroughOnException(): a Workers API with no origin behind fnrun to pass to; one function for every ctx. */
function passThroughOnException(): void {}

/** node's (req, res) listener that calls the slot's function. */
export function createFunctionListener(o: FunctionListenerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { slot, env } = o;
  const waitUntil = o.waitUntil ?? settled;
  return async (req, res) => {
    const fn = slot.handler;
    if (!fn) return sendJson(res, 502, { error: "function failed to initialize", message: messageOf(slot.initError) }, "init");
    let url: string;
    try {
      url = requestUrl(req);
    } catch (err) {
      return sendJson(res, 400, { error: "bad request", message: messageOf(err) });
    }
    const platform = (req as PlatformRequest)[kPlatform] ?? {};
    const ctx: Ctx = {
      waitUntil,
      passThroughOnException,
      deadline: platform.deadline,
      invocationId: platform.invocationId,
    };
    let response: unknown;
    try {
      response = fn(FnRequest.fromIncoming(req, res, url) as unknown as Request, env, ctx);
      if (typeof (response as Promise<unknown> | null)?.then === "function") response = await response;
      if (!(response instanceof FnResponse)) throw new TypeError(`function returned ${describe(response)}, not a Response`);
    } catch (err) {
      console.error("fnrun: function threw:", err);
      return sendJson(res, 502, { error: "function threw", message: messageOf(err) }, "threw");
    }
    try {
      const writing = writeResponse(res, response as Response);
      if (writing) await writing;
    } catch (err) {
      console.error("fnrun: response body failed:", err);
      if (!res.headersSent) sendJson(res, 502, { error: "function threw", message: messageOf(err) }, "threw");
      else res.destroy(err as Error);
    }
  };
}
