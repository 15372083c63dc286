/**
 * @module runtime/bootstrap/drain
 * Graceful stop of a standalone container (docker stop, a Kubernetes pod deletion): on SIGTERM
 * or SIGINT stop accepting connections, close idle keep-alive ones, let the requests in flight
 * (and what they passed to ctx.waitUntil) finish, then exit 0. Bounded by FNRUN_DRAIN_TIMEOUT
 * (default 25 s, inside Kubernetes' default 30 s grace period): past it the bootstrap says how
 * many were cut and exits 1. A second signal exits at once (1).
 *
 * Under fnrun's runtime none of this runs: the daemon owns connections and stops instances
 * with SIGKILL, so socket-mode exits on SIGTERM at once.
 */
import type { Server, ServerResponse } from "node:http";
import { settled } from "./function-module.ts";

export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;

/** FNRUN_DRAIN_TIMEOUT: `25s`, `500ms`, `1m`, or a number of seconds. Throws a message naming the variable. */
export function drainTimeoutMs(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return DEFAULT_DRAIN_TIMEOUT_MS;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new RangeError(`FNRUN_DRAIN_TIMEOUT must be a duration like "25s", "500ms", "1m" or a number of seconds, got "${raw}"`);
  const unit = m[2] ?? "s";
  return Math.round(Number(m[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000));
}

export class Drain {
  readonly #server: Server;
  readonly #timeoutMs: number;
  readonly #exit: (code: number) => void;
  readonly #inFlight = new Set<ServerResponse>();
  readonly #waits = new Set<Promise<unknown>>();
  #draining = false;
  #exited = false;

  constructor(server: Server, timeoutMs: number, exit: (code: number) => void = (code) => process.exit(code)) {
    this.#server = server;
    this.#timeoutMs = timeoutMs;
    this.#exit = (code) => {
      if (this.#exited) return;
      this.#exited = true;
      exit(code);
    };
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Counts `res` in flight until it closes (sent, or its connection gone). */
  track(res: ServerResponse): void {
    this.#inFlight.add(res);
    // Once draining, every answer closes its connection: the client must not send the next request here.
    if (this.#draining) res.shouldKeepAlive = false;
    res.once("close", () => {
      this.#inFlight.delete(res);
      if (this.#draining) this.#check();
    });
  }

  /** ctx.waitUntil of a standalone request: the promise keeps a drain waiting (its rejection is logged). */
  readonly waitUntil = (p: Promise<unknown>): void => {
    const s = settled(p);
    this.#waits.add(s);
    void s.finally(() => {
      this.#waits.delete(s);
      if (this.#draining) this.#check();
    });
  };

  /** Starts draining on `signal` (a second one exits at once). */
  start(signal: string): void {
    if (this.#draining) {
      console.error(`fnrun: ${signal} again: exiting now with ${this.#inFlight.size} request(s) in flight`);
      return this.#exit(1);
    }
    this.#draining = true;
    this.#server.close(); // stop accepting; node also closes the idle keep-alive connections
    this.#server.closeIdleConnections();
    for (const res of this.#inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    const s = Math.round(this.#timeoutMs / 100) / 10;
    console.error(`fnrun: ${signal}: stopped accepting connections; draining ${this.#inFlight.size} request(s) in flight (up to ${s}s, FNRUN_DRAIN_TIMEOUT)`);
    setTimeout(() => {
      console.error(`fnrun: drain timeout (${s}s): exiting with ${this.#inFlight.size} request(s) and ${this.#waits.size} waitUntil promise(s) unfinished`);
      this.#exit(1);
    }, this.#timeoutMs);
    this.#check();
  }

  #check(): void {
    // A response's close can come before its connection counts as idle: look again next turn.
    setImmediate(() => {
      this.#server.closeIdleConnections();
      if (this.#inFlight.size > 0 || this.#waits.size > 0) return;
      this.#server.closeAllConnections();
      console.error("fnrun: drained; exiting");
      this.#exit(0);
    });
  }
}
