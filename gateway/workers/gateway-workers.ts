/**
 * @module gateway/workers/gateway-workers
 * Runs the public listener in N node:cluster processes that share its port (the primary hands
 * each new connection to the next worker, round robin), with the pools, containers and logs in
 * the primary (lease-broker.ts). Why processes and not worker_threads: Node 20 cannot share a
 * listening socket between threads or hand a connection to one, and node:cluster can, for a
 * cost paid once per connection, not per request. A worker that dies is replaced.
 */
import cluster, { type Worker } from "node:cluster";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log.ts";
import type { LeaseBroker, WorkerLink } from "./lease-broker.ts";
import { WORKER_COMMAND, type FromWorker, type FunctionInfo, type WorkerSetup } from "./protocol.ts";

/** Replacements of crashed workers allowed per minute before the daemon stops trying. */
const MAX_RESPAWNS_PER_MINUTE = 10;
/** A worker loads the CLI bundle and listens; far less than this unless something is wrong. */
const START_TIMEOUT_MS = 30_000;

export interface GatewayWorkersOptions {
  count: number;
  setup: WorkerSetup;
  broker: LeaseBroker;
  /** The deployed functions now (routes, revision, timeout). */
  functions: () => Record<string, FunctionInfo>;
  log: Logger;
}

/** bin/fnrun.mjs, found from this module whether it runs from source or from the dist/ bundle. */
function fnrunBin(): string {
  for (const rel of ["../../bin/fnrun.mjs", "../bin/fnrun.mjs", "../../../bin/fnrun.mjs"]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`bin/fnrun.mjs not found from ${import.meta.url}`);
}

export class GatewayWorkers {
  readonly #opts: GatewayWorkersOptions;
  readonly #links = new Map<Worker, WorkerLink>();
  #respawns: number[] = [];
  #closing = false;
  #address: { host: string; port: number } | null = null;

  private constructor(opts: GatewayWorkersOptions) {
    this.#opts = opts;
  }

  /** Forks the workers and resolves once every one listens. */
  static async start(opts: GatewayWorkersOptions): Promise<GatewayWorkers> {
    if (!Number.isInteger(opts.count) || opts.count < 2) throw new TypeError("GatewayWorkers: count must be ≥ 2 (1 runs the gateway in the daemon itself)");
    cluster.setupPrimary({ exec: fnrunBin(), args: [WORKER_COMMAND], serialization: "advanced" });
    const workers = new GatewayWorkers(opts);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`gateway workers did not listen within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(Array.from({ length: opts.count }, () => workers.#fork())), timeout]);
    } catch (err) {
      await workers.close(1000);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return workers;
  }

  /** Where the workers listen (they share one port). */
  get address(): { host: string; port: number } {
    return this.#address!;
  }

  get pids(): number[] {
    return [...this.#links.keys()].map((w) => w.process.pid!).filter(Boolean);
  }

  /** Tells every worker the deployed functions changed. */
  functionsChanged(): void {
    const functions = this.#opts.functions();
    for (const link of this.#links.values()) link.send({ t: "functions", functions });
  }

  /** Stops accepting, lets requests in flight finish, takes every lease back; kills a worker that does not exit. */
  async close(deadlineMs = 10_000): Promise<void> {
    this.#closing = true;
    await Promise.all(
      [...this.#links.keys()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => w.process.kill("SIGKILL"), deadlineMs);
            w.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            w.send({ t: "close" });
          }),
      ),
    );
  }

  #fork(): Promise<void> {
    const worker = cluster.fork();
    const link: WorkerLink = { id: worker.id, send: (m) => void (worker.isConnected() && worker.send(m)) };
    this.#links.set(worker, link);
    this.#opts.broker.add(link);
    const { broker, log } = this.#opts;
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      worker.on("message", (m: FromWorker) => {
        // Port 0 too: a replacement's first listen(0) joins the handle the others share (node:cluster keys it so).
        if (m.t === "ready") worker.send({ t: "setup", setup: this.#opts.setup, functions: this.#opts.functions() });
        else if (m.t === "listening") {
          listening = true;
          this.#address ??= { host: m.host, port: m.port };
          resolve();
        } else if (m.t !== "closed") broker.handle(link, m);
      });
      worker.once("exit", (code, signal) => {
        this.#links.delete(worker);
        broker.workerGone(link);
        if (!listening) return reject(new Error(`gateway worker ${worker.process.pid} exited (${signal ?? code}) before it listened`));
        if (this.#closing) return;
        log.error(`gateway worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
        const now = Date.now();
        this.#respawns = this.#respawns.filter((t) => now - t < 60_000);
        if (this.#respawns.length >= MAX_RESPAWNS_PER_MINUTE) return log.error(`gateway workers keep dying (${MAX_RESPAWNS_PER_MINUTE} in a minute): not starting another`);
        this.#respawns.push(now);
        this.#fork().catch((err) => log.error(`gateway worker: ${(err as Error).message}`));
      });
    });
  }
}
