/**
 * @module gateway/workers/protocol
 * The messages between the daemon (the primary, which owns the pools, the containers and
 * every log) and its gateway workers (node:cluster processes that share the public port and
 * proxy requests). A worker asks for a lease only when it holds no idle one of the function:
 * leases it has used stay "parked" with it for a moment and serve its next requests without a
 * message, so a busy worker sends about nothing per request (see lease-broker.ts).
 */
import type { Outcome, StartKind } from "../../runtime/function-pool.ts";
import type { TimeoutEvent } from "../public-server.ts";
import type { RequestLimits } from "../request-limits.ts";
import type { RouteSpec } from "../routes.ts";

/** The hidden CLI command a worker process runs (cli/main.ts). */
export const WORKER_COMMAND = "__gateway-worker";

/** What a worker needs to know of each deployed function. */
export interface FunctionInfo {
  revision: string;
  timeoutMs: number;
  routes: RouteSpec[];
}

/** A lease the primary took for a worker: the instance to send the request to, and how it was got. */
export interface Grant {
  /** The primary's id of this lease (released by it). */
  lease: number;
  fn: string;
  revision: string;
  instanceId: string;
  socketPath: string;
  /** Connections a worker may open to the instance (its concurrency). */
  connections: number;
  kind: StartKind;
  queueMs: number;
  startMs: number;
  createMs: number;
  specializeMs: number;
}

export interface WorkerSetup {
  host: string;
  port: number;
  maxBodyBytes: number;
  limits?: Partial<Omit<RequestLimits, "maxBodyBytes">>;
}

export type ToWorker =
  | { t: "setup"; setup: WorkerSetup; functions: Record<string, FunctionInfo> }
  | { t: "functions"; functions: Record<string, FunctionInfo> }
  | { t: "grant"; rid: number; grant: Grant }
  | { t: "deny"; rid: number; code: string; message: string }
  /**
   * `on`: a request for `fn` found no free slot; give back the parked (idle) leases of `fn`
   * now, and park none while it lasts (each lease goes back as its request ends, so waiting
   * requests get it at once). Answered with "recalled". `on: false`: nobody waits any more.
   */
  | { t: "contended"; fn: string; on: boolean; seq: number }
  /** Stop accepting, finish the requests in flight, give every lease back, then exit. */
  | { t: "close" };

export type FromWorker =
  /** The worker's code is loaded and listens for messages (anything sent before is lost). */
  | { t: "ready" }
  | { t: "listening"; host: string; port: number }
  | { t: "acquire"; rid: number; fn: string }
  | { t: "release"; leases: Array<[lease: number, outcome: Outcome]> }
  /** The answer to "contended": how many leases it gave back (the releases were sent before it). */
  | { t: "recalled"; seq: number; released: number }
  /** Invocation records, flattened (record-rows.ts). */
  | { t: "invocations"; rows: unknown[] }
  | { t: "timeout"; event: TimeoutEvent }
  /** Every request is answered and every lease given back: the worker exits next. */
  | { t: "closed" };
