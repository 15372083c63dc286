/**
 * @module runtime/bootstrap/platform-headers
 * `x-fnrun-*` request headers belong to the platform, never to the function: fnrun's gateway
 * sends the invocation id and the deadline in one (x-fnrun-ctx); a client that reaches a standalone
 * container directly may send anything there, so they are taken out before the function sees
 * the request in both modes, and trusted only under fnrun.
 */
import type { IncomingMessage } from "node:http";
import { namedAs, startsAs } from "./header-names.ts";
import type { Platform } from "./request-path.ts";

/** The decimal number `value` holds before `end`; NaN when anything else is there. */
function digits(value: string, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Removes every x-fnrun-* header from the request and returns what fnrun's gateway carries in
 * them: `x-fnrun-ctx: <deadline> <invocation id>` (one header: each one costs a validation in the
 * gateway's client and a parse here, on every request), or the older pair `x-fnrun-deadline` and
 * `x-fnrun-invocation-id` (still sent by scheduled runs, and accepted). Done on rawHeaders, before
 * anything reads `req.headers` (which node builds from them lazily), in one pass that moves the
 * others up: the gateway's header is the last, so usually only the length changes.
 */
export function takePlatformHeaders(req: IncomingMessage): Platform {
  const raw = req.rawHeaders;
  let deadline: number | undefined;
  let invocationId: string | undefined;
  let kept = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    // Longer than the prefix: a header named just "x-fnrun-" is not the platform's.
    if (!(name.length > 8 && startsAs(name, "x-fnrun-"))) {
      if (kept !== i) {
        raw[kept] = name;
        raw[kept + 1] = raw[i + 1];
      }
      kept += 2;
      continue;
    }
    const value = raw[i + 1];
    if (namedAs(name, "x-fnrun-ctx")) {
      const sp = value.indexOf(" ");
      if (sp > 0) {
        deadline = digits(value, sp);
        invocationId = value.slice(sp + 1);
      }
    } else if (namedAs(name, "x-fnrun-deadline")) deadline = Number(value);
    else if (namedAs(name, "x-fnrun-invocation-id")) invocationId = value;
  }
  if (kept !== raw.length) raw.length = kept;
  return { deadline, invocationId };
}
