/**
 * @module gateway/workers/lease-broker
 * The primary's side of the gateway workers: it takes leases from the one PoolManager for
 * the workers that ask (so there is one warm pool per function, and concurrency, max_instances
 * and max_queue hold exactly across workers), takes them back, and passes the workers'
 * invocation records and timeouts on to the one invocation log and metrics.
 *
 * Workers park leases they have used (worker-invoker.ts). A parked lease is an idle slot the
 * pool counts as busy; so before a request would wait in the queue or start a new instance, the
 * broker tells every worker the function is contended: they give back its parked leases, park
 * none until the contention ends (so a queued request gets a slot the moment one frees), and
 * answer; then the broker tries again. Only the first request that finds no slot waits for
 * the answers; the others wait for the same round.
 */
import type { Lease, Outcome } from "../../runtime/function-pool.ts";
import type { InvocationRecord, TimeoutEvent } from "../public-server.ts";
import type { FromWorker, Grant, ToWorker } from "./protocol.ts";
import { recordsOf } from "./record-rows.ts";

/** A worker as the broker sees it: a way to send it messages. */
export interface WorkerLink {
  readonly id: number;
  send(message: ToWorker): void;
}

/** What the broker needs of the pools (the consumer owns the interface). */
export interface BrokerPools {
  acquire(name: string): Promise<Lease>;
  tryAcquire(name: string): Lease | undefined;
  /** Connections a worker may open to an instance of `name` (its concurrency). */
  concurrencyOf(name: string): number;
}

export interface LeaseBrokerOptions {
  pools: BrokerPools;
  onInvocation(record: InvocationRecord): void;
  onTimeout(event: TimeoutEvent): void;
  /** How long a recall waits for the other workers' answers before the request queues anyway. */
  recallTimeoutMs?: number;
}

/** Requests of one function that found no free slot and wait; the round of answers they wait for. */
interface Contention {
  waiting: number;
  recalled: Promise<void>;
}

interface Held {
  lease: Lease;
  worker: WorkerLink;
  fn: string;
}

export class LeaseBroker {
  readonly #opts: LeaseBrokerOptions;
  readonly #held = new Map<number, Held>();
  #nextLease = 0;
  #recallSeq = 0;
  readonly #recalls = new Map<number, () => void>();
  readonly #contended = new Map<string, Contention>();
  readonly #workers = new Set<WorkerLink>();

  constructor(opts: LeaseBrokerOptions) {
    this.#opts = opts;
  }

  /** Leases held by workers now (in use or parked). */
  get held(): number {
    return this.#held.size;
  }

  /** A worker that will ask for leases (it hears of contention from now on). */
  add(worker: WorkerLink): void {
    this.#workers.add(worker);
  }

  handle(worker: WorkerLink, m: FromWorker): void {
    switch (m.t) {
      case "acquire":
        void this.#acquire(worker, m.rid, m.fn);
        break;
      case "release":
        for (const [id, outcome] of m.leases) this.#release(id, outcome);
        break;
      case "recalled":
        this.#recalls.get(m.seq)?.();
        break;
      case "invocations":
        for (const r of recordsOf(m.rows)) this.#opts.onInvocation(r);
        break;
      case "timeout":
        this.#opts.onTimeout(m.event);
        break;
    }
  }

  /** A worker exited: every lease it held goes back (its connections died with it). */
  workerGone(worker: WorkerLink): void {
    this.#workers.delete(worker);
    for (const [id, h] of this.#held) if (h.worker === worker) this.#release(id, "ok");
  }

  async #acquire(worker: WorkerLink, rid: number, fn: string): Promise<void> {
    if (!this.#workers.has(worker)) return; // asked just before it exited
    let lease: Lease | undefined;
    try {
      lease = this.#opts.pools.tryAcquire(fn) ?? (await this.#contend(fn));
    } catch (err) {
      const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : "FNRUN_INTERNAL";
      worker.send({ t: "deny", rid, code, message: (err as Error).message ?? String(err) });
      return;
    }
    // The worker died while its request waited (or its last message came after its exit):
    // nobody will use or give back this lease, so it goes back now.
    if (!this.#workers.has(worker)) return lease.release("ok");
    const id = ++this.#nextLease;
    this.#held.set(id, { lease, worker, fn });
    const instance = lease.instance as Lease["instance"] & { socketPath?: string };
    const grant: Grant = {
      lease: id,
      fn,
      revision: lease.revision ?? "",
      instanceId: instance.id,
      socketPath: instance.socketPath ?? "",
      connections: this.#opts.pools.concurrencyOf(fn),
      kind: lease.kind,
      queueMs: lease.queueMs,
      startMs: lease.startMs,
      createMs: lease.createMs,
      specializeMs: lease.specializeMs,
    };
    worker.send({ t: "grant", rid, grant });
  }

  /** No free slot for `fn`: idle slots parked in workers come back first, then the pool decides (queue or start). */
  async #contend(fn: string): Promise<Lease> {
    let c = this.#contended.get(fn);
    if (!c) this.#contended.set(fn, (c = { waiting: 0, recalled: this.#broadcast(fn, true) }));
    c.waiting++;
    try {
      await c.recalled;
      return this.#opts.pools.tryAcquire(fn) ?? (await this.#opts.pools.acquire(fn));
    } finally {
      if (--c.waiting === 0 && this.#contended.get(fn) === c) {
        this.#contended.delete(fn);
        void this.#broadcast(fn, false);
      }
    }
  }

  /** Tells every worker; with `on`, resolves when all answered (their releases come first) or the timeout passed. */
  #broadcast(fn: string, on: boolean): Promise<void> {
    return Promise.all(
      [...this.#workers].map((w) => {
        const seq = ++this.#recallSeq;
        if (!on) return void w.send({ t: "contended", fn, on, seq });
        return new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.#recalls.delete(seq);
            resolve();
          };
          const timer = setTimeout(done, this.#opts.recallTimeoutMs ?? 50);
          this.#recalls.set(seq, done);
          w.send({ t: "contended", fn, on, seq });
        });
      }),
    ).then(() => {});
  }

  #release(id: number, outcome: Outcome): void {
    const h = this.#held.get(id);
    if (!h) return;
    this.#held.delete(id);
    h.lease.release(outcome);
  }
}
