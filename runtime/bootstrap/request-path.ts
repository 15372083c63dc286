/**
 * @module runtime/bootstrap/request-path
 * The request conversion: node's request → the function's `fetch(request, env, ctx)` → its
 * Response written back. Shared by fnrun's socket mode and the standalone TCP mode; what
 * listens, routes platform paths and drains lives elsewhere, so this file alone can be
 * replaced by a faster conversion.
 *
 * @hono/node-server turns node's request into a Request lazily and writes the Response back on
 * its fast paths; its lightweight Request/Response globals (overrideGlobalObjects) are what the
 * function constructs too, so a `new Response("text")` is written without a web stream (a
 * hand-written conversion cost ~90 µs a request, five times bare node:http).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { describe, messageOf, settled, type Ctx, type Env, type Handler } from "./function-module.ts";

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

/** The answer for a function that threw or failed to load: 502, JSON, and x-fnrun-error saying which (the gateway strips it). */
export function errorResponse(kind: "threw" | "init", error: string, err: unknown): Response {
  return new Response(JSON.stringify({ error, message: messageOf(err) }), {
    status: 502,
    headers: { "content-type": "application/json", "x-fnrun-error": kind },
  });
}

/** A small JSON answer of the bootstrap's own (not the function's). */
export function sendJson(res: ServerResponse, status: number, value: unknown, fnrunError?: string): void {
  const body = JSON.stringify(value);
  const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (fnrunError) headers["x-fnrun-error"] = fnrunError;
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * Node builds its fetch classes lazily; the first use costs ~25 ms (FACTS.md), and far more
 * under a 0.5-core CFS quota that the boot has already used up. Paid before listening (the
 * socket's name, or the open TCP port a readiness probe sees, means "ready"): measured, warming
 * after listen made "ready" ~40 ms sooner but the first response ~45 ms later.
 */
export function warmFetchClasses(): void {
  new Response(new Request("http://warm/", { method: "POST", body: "x", headers: new Headers({ a: "b" }) }).body);
}

/** node's (req, res) listener that calls the slot's function. */
export function createFunctionListener(o: FunctionListenerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { slot, env } = o;
  const waitUntil = o.waitUntil ?? settled;
  return getRequestListener(
    async (request, bindings) => {
      const fn = slot.handler;
      if (!fn) return errorResponse("init", "function failed to initialize", slot.initError);
      const platform = (bindings.incoming as PlatformRequest)[kPlatform] ?? {};
      const ctx: Ctx = {
        waitUntil,
        passThroughOnException() {},
        deadline: platform.deadline,
        invocationId: platform.invocationId,
      };
      try {
        const response = await fn(request, env, ctx);
        if (!(response instanceof Response)) throw new TypeError(`function returned ${describe(response)}, not a Response`);
        return response;
      } catch (err) {
        console.error("fnrun: function threw:", err);
        return errorResponse("threw", "function threw", err);
      }
    },
    {
      errorHandler: (err) => {
        console.error("fnrun: response body failed:", err);
        return errorResponse("threw", "function threw", err);
      },
    },
  );
}
