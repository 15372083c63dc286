/**
 * @module gateway/timeout-log
 * Says in a function's own log (the file its container's stdout and stderr go to) that an
 * invocation timed out: the function cannot say it, the gateway cut it off. The file is
 * opened O_APPEND, like the container's, so lines never interleave within a line.
 */
import { appendFile } from "node:fs/promises";
import type { TimeoutEvent } from "./public-server.ts";

/** The line written for one timed-out invocation. */
export function timeoutLine(e: TimeoutEvent, now = new Date()): string {
  return `fnrun: ${now.toISOString()} invocation ${e.invocationId} (${e.method} ${e.target}) timed out after ${e.timeoutMs} ms; the client got 504 and instance ${e.instanceId} is stopped\n`;
}

/**
 * An Invoker `onTimeout` that appends timeoutLine() to the log file of the function named in
 * the event. `logFileOf` returns undefined for a function it does not know (nothing written);
 * a failed write goes to `onError`, never to the request.
 */
export function timeoutLogger(logFileOf: (fn: string) => string | undefined, onError?: (err: unknown) => void): (e: TimeoutEvent) => void {
  return (e) => {
    const file = logFileOf(e.fn);
    if (file) appendFile(file, timeoutLine(e)).catch((err) => onError?.(err));
  };
}
