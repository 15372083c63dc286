/**
 * @module runtime/bootstrap/platform-headers
 * `x-fnrun-*` request headers belong to the platform, never to the function: fnrun's gateway
 * sends the invocation id and the deadline in one (x-fnrun-ctx); a client that reaches a standalone
 * container directly may send anything there, so they are taken out before the function sees
 * the request in both modes, and trusted only under fnrun.
 */
import type { IncomingMessage } from "node:http";
import type { Platform } from "./request-path.ts";

/**
 * Removes every x-fnrun-* header from the request and returns what fnrun's gateway carries in
 * them: `x-fnrun-ctx: <deadline> <invocation id>` (one header: each one costs a validation in the
 * gateway's client and a parse here, on every request), or the older pair `x-fnrun-deadline` and
 * `x-fnrun-invocation-id` (still sent by scheduled runs, and accepted). Done on rawHeaders, before
 * anything reads `req.headers` (which node builds from them lazily).
 */
export function takePlatformHeaders(req: IncomingMessage): Platform {
  const raw = req.rawHeaders;
  let deadline: number | undefined;
  let invocationId: string | undefined;
  for (let i = 0; i < raw.length; ) {
    const name = raw[i];
    // "x-" first, by char code: most headers are rejected without a string made.
    if (name.length > 8 && (name.charCodeAt(0) | 32) === 120 && name.charCodeAt(1) === 45 && name.slice(2, 8).toLowerCase() === "fnrun-") {
      const lower = name.toLowerCase();
      const value = raw[i + 1];
      if (lower === "x-fnrun-ctx") {
        const sp = value.indexOf(" ");
        if (sp > 0) {
          deadline = Number(value.slice(0, sp));
          invocationId = value.slice(sp + 1);
        }
      } else if (lower === "x-fnrun-deadline") deadline = Number(value);
      else if (lower === "x-fnrun-invocation-id") invocationId = value;
      raw.splice(i, 2);
    } else i += 2;
  }
  return { deadline, invocationId };
}
