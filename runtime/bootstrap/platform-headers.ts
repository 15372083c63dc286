/**
 * @module runtime/bootstrap/platform-headers
 * `x-fnrun-*` request headers belong to the platform, never to the function: fnrun's gateway
 * sends the invocation id and the deadline in them; a client that reaches a standalone
 * container directly may send anything there, so they are taken out before the function sees
 * the request in both modes, and trusted only under fnrun.
 */
import type { IncomingMessage } from "node:http";
import type { Platform } from "./request-path.ts";

/**
 * Removes every x-fnrun-* header from the request and returns the two fnrun's gateway carries.
 * Done on rawHeaders, before anything reads `req.headers` (which node builds from them lazily,
 * as @hono/node-server builds the Request's).
 */
export function takePlatformHeaders(req: IncomingMessage): Platform {
  const raw = req.rawHeaders;
  let deadline: number | undefined;
  let invocationId: string | undefined;
  for (let i = 0; i < raw.length; ) {
    const name = raw[i];
    if (name.length > 8 && name.slice(0, 8).toLowerCase() === "x-fnrun-") {
      const lower = name.toLowerCase();
      if (lower === "x-fnrun-deadline") deadline = Number(raw[i + 1]);
      else if (lower === "x-fnrun-invocation-id") invocationId = raw[i + 1];
      raw.splice(i, 2);
    } else i += 2;
  }
  return { deadline, invocationId };
}
