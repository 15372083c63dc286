/**
 * @module gateway/timeout-log
 * Says in a function's own log (the file its container's stdout and stderr go to) that an
 * invocation timed out: the function cannot say it, the gateway cut it off.
 */
import type { TimeoutEvent } from "./public-server.ts";

/** The line written for one timed-out invocation. */
export function timeoutLine(e: TimeoutEvent, now = new Date()): string {
  return `fnrun: ${now.toISOString()} invocation ${e.invocationId} (${e.method} ${e.target}) timed out after ${e.timeoutMs} ms; the client got 504 and instance ${e.instanceId} is stopped\n`;
}

/**
 * An Invoker `onTimeout` that appends timeoutLine() to the function's log through
 * `append(fn, line)` (the daemon's FunctionLogs, so the line lands among the function's own
 * lines and under the same size bound).
 */
export function timeoutLogger(append: (fn: string, line: string) => void): (e: TimeoutEvent) => void {
  return (e) => append(e.fn, timeoutLine(e));
}
