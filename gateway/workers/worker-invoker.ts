/**
 * @module gateway/workers/worker-invoker
 * The Invoker of a gateway worker: leases come from the primary (lease-broker.ts), and a lease
 * whose request ended well is not given back at once but parked here for PARK_MS, so the
 * worker's next requests for that function take it without a message (tryAcquire: no promise,
 * no IPC). Parked leases are given back when they expire, when the primary recalls them (another
 * worker found no free slot), when the function's revision changes, and when the worker closes.
 * The concurrency and max_instances limits stay exact: a parked lease still holds its slot in
 * the primary's pool.
 */
import { Pool } from "undici";
import type { Lease, Outcome, PooledInstance, StartKind } from "../../runtime/function-pool.ts";
import { oomKills } from "../../runtime/oom.ts";
import type { Invoker, TimeoutEvent } from "../public-server.ts";
import type { FromWorker, FunctionInfo, Grant } from "./protocol.ts";

/** How long an idle lease stays with the worker before it is given back. */
export const PARK_MS = 100;
/** A connection pool to an instance no lease has used for this long is closed. */
const DISPATCHER_IDLE_MS = 60_000;
const IDLE_CONNECTION_MS = 30 * 60_000;

interface Parked {
  grant: Grant;
  since: number;
}

/** One use of a granted lease. */
class WorkerLease implements Lease {
  constructor(
    readonly owner: WorkerInvoker,
    readonly grant: Grant,
    readonly instance: PooledInstance,
    readonly kind: StartKind,
    readonly queueMs: number,
    readonly startMs: number,
    readonly createMs: number,
    readonly specializeMs: number,
  ) {}
  #released = false;
  get revision(): string {
    return this.grant.revision;
  }
  release(outcome: Outcome): void {
    if (this.#released) return;
    this.#released = true;
    this.owner.released(this.grant, outcome);
  }
}

export class WorkerInvoker implements Invoker {
  readonly #send: (m: FromWorker) => void;
  #functions: Record<string, FunctionInfo> = {};
  readonly #parked = new Map<string, Parked[]>();
  /** Functions whose requests wait in the primary: their leases go back as soon as a request ends. */
  readonly #contended = new Set<string>();
  readonly #pending = new Map<number, { resolve: (l: Lease) => void; reject: (e: unknown) => void; at: number }>();
  /** This worker's connection pools, by instance, with the leases it holds on each (in use or parked). */
  readonly #instances = new Map<string, { instance: PooledInstance; lastUsed: number; leases: number }>();
  #rid = 0;
  #outstanding = 0;
  #closing = false;
  readonly #sweeper: NodeJS.Timeout;
  readonly #defaultTimeoutMs: number;

  constructor(send: (m: FromWorker) => void, defaultTimeoutMs = 30_000) {
    this.#send = send;
    this.#defaultTimeoutMs = defaultTimeoutMs;
    this.#sweeper = setInterval(() => this.#sweep(), PARK_MS / 2);
    this.#sweeper.unref();
  }

  /** Leases granted and not given back (in use or parked). */
  get outstanding(): number {
    return this.#outstanding;
  }

  tryAcquire(fn: string): Lease | undefined {
    const p = this.#parked.get(fn)?.pop();
    return p && this.#use(p.grant, "warm", 0, 0, 0, 0);
  }

  acquire(fn: string): Promise<Lease> {
    const parked = this.tryAcquire(fn);
    if (parked) return Promise.resolve(parked);
    const rid = ++this.#rid;
    return new Promise<Lease>((resolve, reject) => {
      this.#pending.set(rid, { resolve, reject, at: performance.now() });
      this.#send({ t: "acquire", rid, fn });
    });
  }

  timeoutOf(fn: string): number {
    return this.#functions[fn]?.timeoutMs ?? this.#defaultTimeoutMs;
  }

  onTimeout = (event: TimeoutEvent): void => this.#send({ t: "timeout", event });

  /** The primary took a lease for request `rid`. */
  granted(rid: number, grant: Grant): void {
    this.#outstanding++;
    this.#instance(grant);
    this.#instances.get(grant.instanceId)!.leases++;
    const waiter = this.#pending.get(rid);
    this.#pending.delete(rid);
    if (!waiter) return this.released(grant, "ok"); // nobody waits any more: park it
    // The wait the client saw: the primary's queue and start plus the message round trip.
    const queueMs = Math.max(grant.queueMs, performance.now() - waiter.at);
    waiter.resolve(this.#use(grant, grant.kind, queueMs, grant.startMs, grant.createMs, grant.specializeMs));
  }

  denied(rid: number, code: string, message: string): void {
    const waiter = this.#pending.get(rid);
    this.#pending.delete(rid);
    waiter?.reject(Object.assign(new Error(message), { code }));
  }

  /** A lease's request ended: park it for the next request, or give it back. */
  released(grant: Grant, outcome: Outcome): void {
    const current = this.#functions[grant.fn];
    if (outcome === "ok" && !this.#closing && current?.revision === grant.revision && !this.#contended.has(grant.fn)) {
      let stack = this.#parked.get(grant.fn);
      if (!stack) this.#parked.set(grant.fn, (stack = []));
      stack.push({ grant, since: Date.now() });
      return;
    }
    this.#giveBack([grant], outcome);
  }

  /** Requests of `fn` wait in the primary (`on`), or no longer do. With `on`, returns how many parked leases went back. */
  contended(fn: string, on: boolean): number {
    if (!on) {
      this.#contended.delete(fn);
      return 0;
    }
    this.#contended.add(fn);
    return this.#recall(fn);
  }

  #recall(fn: string): number {
    const stack = this.#parked.get(fn);
    if (!stack?.length) return 0;
    this.#parked.delete(fn);
    this.#giveBack(stack.map((p) => p.grant));
    return stack.length;
  }

  /** The functions changed (a deploy, a removal): parked leases of another revision go back. */
  setFunctions(functions: Record<string, FunctionInfo>): void {
    this.#functions = functions;
    for (const [fn, stack] of this.#parked) {
      const keep = stack.filter((p) => functions[fn]?.revision === p.grant.revision);
      if (keep.length === stack.length) continue;
      this.#giveBack(stack.filter((p) => !keep.includes(p)).map((p) => p.grant));
      if (keep.length) this.#parked.set(fn, keep);
      else this.#parked.delete(fn);
    }
  }

  /** Gives every parked lease back and parks no more (the worker is closing). */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    for (const fn of [...this.#parked.keys()]) this.#recall(fn);
    await Promise.all([...this.#instances.values()].map((d) => d.instance.dispatcher.close().catch(() => {})));
  }

  #use(grant: Grant, kind: StartKind, queueMs: number, startMs: number, createMs: number, specializeMs: number): WorkerLease {
    return new WorkerLease(this, grant, this.#instance(grant), kind, queueMs, startMs, createMs, specializeMs);
  }

  /** This worker's connections to an instance, made on its first lease. */
  #instance(grant: Grant): PooledInstance {
    let entry = this.#instances.get(grant.instanceId);
    if (!entry) {
      const id = grant.instanceId;
      const dispatcher = new Pool("http://fnrun", { socketPath: grant.socketPath, connections: grant.connections, keepAliveTimeout: IDLE_CONNECTION_MS, keepAliveMaxTimeout: IDLE_CONNECTION_MS });
      const instance: PooledInstance = {
        id,
        dispatcher,
        oomKilled: async () => ((await oomKills(id)) ?? 0) > 0,
        stop: () => Promise.resolve(), // the primary stops instances; a worker only stops using them
      };
      this.#instances.set(id, (entry = { instance, lastUsed: 0, leases: 0 }));
    }
    entry.lastUsed = Date.now();
    return entry.instance;
  }

  #giveBack(grants: Grant[], outcome: Outcome = "ok"): void {
    if (grants.length === 0) return;
    this.#outstanding -= grants.length;
    for (const g of grants) {
      const entry = this.#instances.get(g.instanceId);
      if (entry) entry.leases--;
    }
    this.#send({ t: "release", leases: grants.map((g) => [g.lease, outcome]) });
  }

  #sweep(): void {
    const now = Date.now();
    for (const [fn, stack] of this.#parked) {
      // Oldest at the bottom: the stack is reused from the top, so the bottom is what sat longest.
      let n = 0;
      while (n < stack.length && now - stack[n].since >= PARK_MS) n++;
      if (n === 0) continue;
      this.#giveBack(stack.splice(0, n).map((p) => p.grant));
      if (stack.length === 0) this.#parked.delete(fn);
    }
    for (const [id, entry] of this.#instances) {
      if (entry.leases > 0 || now - entry.lastUsed < DISPATCHER_IDLE_MS) continue;
      this.#instances.delete(id);
      void entry.instance.dispatcher.close().catch(() => {});
    }
  }
}
