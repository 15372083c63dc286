/**
 * @module runtime/function-pool
 * The instances of one revision of one function (undici's Pool, one level down from the
 * PoolManager): hands out leases on instances with a free concurrency slot, starts more
 * up to `maxInstances` when all are busy, queues the rest in a bounded FIFO, and stops
 * instances that crashed, timed out or sat idle too long.
 */
import type { Dispatcher } from "undici";
import { poolClosed, queueFull } from "./pool-errors.ts";

/** What the pool needs of an instance; runtime/instance.ts's Instance is one. */
export interface PooledInstance {
  readonly id: string;
  readonly dispatcher: Dispatcher;
  /** The unix socket the instance answers on (for gateway workers, which connect themselves). */
  readonly socketPath?: string;
  stop(): Promise<void>;
  /** Whether the kernel OOM-killed it (asked when its connection dies, before stop()). */
  oomKilled?(): Promise<boolean>;
  /**
   * For an instance handed out while its function's code still loads (a stem cell whose first
   * request goes in behind the load): settles when the load has; a rejection means it never
   * serves (the requests already sent get its 502 init answer) and it is retired.
   */
  readonly ready?: Promise<void>;
}

/** How a request got its instance: an idle one, a specialized stem cell, or a container started from the image. */
export type StartKind = "warm" | "stem" | "cold";

/** What a start brought: the instance, how it was made, and the time of each phase. */
export interface Started {
  instance: PooledInstance;
  kind: "stem" | "cold";
  /** ms creating the container (0 when a prewarmed stem cell was used). */
  createMs: number;
  /** ms specializing a stem cell (0 for a cold start). */
  specializeMs: number;
}

/** How a leased request ended: anything but "ok" retires the instance (never reused). */
export type Outcome = "ok" | "crashed" | "timeout";

export interface Lease {
  readonly instance: PooledInstance;
  /** The revision of the pool that gave it. */
  readonly revision?: string;
  readonly kind: StartKind;
  /** ms spent waiting for a slot; of it, ms the start of the instance took and its phases. */
  readonly queueMs: number;
  readonly startMs: number;
  readonly createMs: number;
  readonly specializeMs: number;
  release(outcome: Outcome): void;
}

export interface FunctionPoolOptions {
  name: string;
  revision: string;
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  /** Requests that may wait for a slot before acquire() fails with FNRUN_QUEUE_FULL. */
  maxQueue: number;
  idleTimeoutMs: number;
  /** `urgent`: a request waits for this instance (a warm-up's start is not). */
  start: (urgent: boolean) => Promise<Started>;
  /** Told about failures that no caller sees (a background start, a stop). */
  onError?: (err: unknown) => void;
}

interface Slot {
  instance: PooledInstance;
  inflight: number;
  lastUsed: number;
  /** performance.now() when it joined the pool (as the waiters' enqueuedAt: queue and start times below a millisecond). */
  readyAt: number;
  startMs: number;
  started: Started;
}

interface Waiter {
  enqueuedAt: number;
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

/** How long a revision whose code failed to load answers with that failure before it is tried again. */
const BROKEN_BACKOFF_MS = 5000;

export class FunctionPool {
  readonly name: string;
  readonly revision: string;
  readonly #opts: FunctionPoolOptions;
  readonly #slots = new Set<Slot>();
  readonly #waiters: Waiter[] = [];
  #starting = 0;
  #closed = false;
  #drained: (() => void) | null = null;
  /** The function's own code failed to start: requests fail fast with this until `#brokenUntil`. */
  #broken: unknown = null;
  #brokenUntil = 0;

  constructor(opts: FunctionPoolOptions) {
    for (const key of ["concurrency", "maxInstances"] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < 1) throw new TypeError(`FunctionPool: ${key} must be a whole number ≥ 1`);
    }
    if (opts.minInstances > opts.maxInstances) throw new TypeError("FunctionPool: minInstances exceeds maxInstances");
    this.#opts = opts;
    this.name = opts.name;
    this.revision = opts.revision;
  }

  /** Read-only counters. */
  get stats() {
    let busy = 0;
    let inflight = 0;
    for (const s of this.#slots) {
      if (s.inflight > 0) busy++;
      inflight += s.inflight;
    }
    return { instances: this.#slots.size, busy, idle: this.#slots.size - busy, starting: this.#starting, inflight, queued: this.#waiters.length };
  }

  /** The instances, read-only: id, requests in flight, how each was started. */
  get instances(): Array<{ id: string; inflight: number; kind: "stem" | "cold"; idleMs: number }> {
    const now = Date.now();
    return [...this.#slots].map((s) => ({ id: s.instance.id, inflight: s.inflight, kind: s.started.kind, idleMs: s.inflight > 0 ? 0 : now - s.lastUsed }));
  }

  /** Starts instances until `count` are running; rejects with the first start failure. */
  async warm(count: number): Promise<void> {
    const missing = Math.min(count, this.#opts.maxInstances) - this.#slots.size - this.#starting;
    const starts: Promise<void>[] = [];
    for (let i = 0; i < missing; i++) starts.push(this.#startOne(true));
    await Promise.all(starts);
  }

  /** A lease on an instance with a free slot; waits (bounded) when every instance is busy. */
  acquire(): Promise<Lease> {
    if (this.#closed) return Promise.reject(poolClosed(this.name, this.revision));
    // A revision whose code cannot load is not started again and again, once per request.
    if (this.#broken && this.#slots.size === 0 && Date.now() < this.#brokenUntil) return Promise.reject(this.#broken);
    const lease = this.tryAcquire();
    if (lease) return Promise.resolve(lease);
    if (this.#waiters.length >= this.#opts.maxQueue) return Promise.reject(queueFull(this.name, this.#waiters.length));
    return new Promise<Lease>((resolve, reject) => {
      this.#waiters.push({ enqueuedAt: performance.now(), resolve, reject });
      this.#scale();
    });
  }

  /**
   * A lease on a warm instance with a free slot, now, or undefined (then acquire() waits or
   * starts one): the request path's way around a promise and a microtask per request.
   */
  tryAcquire(): Lease | undefined {
    if (this.#closed || this.#waiters.length > 0) return undefined;
    const slot = this.#freeSlot();
    return slot && this.#lease(slot, 0, false);
  }

  /** Stops instances idle longer than idleTimeoutMs, keeping minInstances. */
  reapIdle(now = Date.now()): void {
    let keep = this.#slots.size;
    for (const slot of this.#slots) {
      if (keep <= this.#opts.minInstances) break;
      if (slot.inflight === 0 && now - slot.lastUsed >= this.#opts.idleTimeoutMs) {
        keep--;
        this.#retire(slot);
      }
    }
  }

  /**
   * The instances evict() would stop now (idle, above minInstances) and when each was last
   * used: the memory budget orders every pool's together, least recently used first, when it
   * needs room (rarely), instead of keeping an LRU list up to date on every request.
   */
  evictable(): Array<{ id: string; lastUsed: number }> {
    if (this.#slots.size <= this.#opts.minInstances) return [];
    const out: Array<{ id: string; lastUsed: number }> = [];
    for (const s of this.#slots) if (s.inflight === 0) out.push({ id: s.instance.id, lastUsed: s.lastUsed });
    return out;
  }

  /**
   * Stops `instanceId` to free its memory, if it is idle and above minInstances (the memory
   * budget's eviction). Resolves when it is stopped; null when it may not be evicted.
   */
  evict(instanceId: string): Promise<void> | null {
    if (this.#slots.size <= this.#opts.minInstances) return null;
    for (const slot of this.#slots) {
      if (slot.instance.id === instanceId && slot.inflight === 0) return this.#retire(slot);
    }
    return null;
  }

  /** Graceful: refuses new leases, lets leased requests finish, then stops every instance. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w.reject(poolClosed(this.name, this.revision));
    }
    if (this.stats.inflight > 0 || this.#starting > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    await Promise.all([...this.#slots].map((s) => this.#retire(s)));
  }

  /** Abrupt: stops every instance now; leased requests fail. */
  async destroy(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(poolClosed(this.name, this.revision));
    await Promise.all([...this.#slots].map((s) => this.#retire(s)));
  }

  #freeSlot(): Slot | undefined {
    // Least loaded first spreads requests; ties go to the most recently used (keeps others idle to be reaped).
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (s.inflight >= this.#opts.concurrency) continue;
      if (!best || s.inflight < best.inflight || (s.inflight === best.inflight && s.lastUsed > best.lastUsed)) best = s;
    }
    return best;
  }

  #lease(slot: Slot, enqueuedAt: number, waited: boolean): Lease {
    slot.inflight++;
    // A request that waited for this very instance to start had a stem or cold start; anything else is warm.
    const started = waited && slot.readyAt >= enqueuedAt;
    let released = false;
    return {
      instance: slot.instance,
      revision: this.revision,
      kind: started ? slot.started.kind : "warm",
      queueMs: waited ? performance.now() - enqueuedAt : 0,
      startMs: started ? slot.startMs : 0,
      createMs: started ? slot.started.createMs : 0,
      specializeMs: started ? slot.started.specializeMs : 0,
      release: (outcome) => {
        if (released) return;
        released = true;
        slot.inflight--;
        slot.lastUsed = Date.now();
        if (outcome !== "ok") this.#retire(slot);
        this.#dispatch();
        this.#scale();
        this.#checkDrained();
      },
    };
  }

  /** Serves waiters, oldest first, from instances with a free slot. */
  #dispatch(): void {
    while (this.#waiters.length > 0) {
      const slot = this.#freeSlot();
      if (!slot) return;
      const w = this.#waiters.shift()!;
      w.resolve(this.#lease(slot, w.enqueuedAt, true));
    }
  }

  /**
   * Starts instances for the waiters that the instances already starting cannot take:
   * N requests arriving during one cold start share it (no thundering herd).
   */
  #scale(): void {
    if (this.#closed) return;
    while (
      this.#waiters.length > this.#starting * this.#opts.concurrency &&
      this.#slots.size + this.#starting < this.#opts.maxInstances
    ) {
      void this.#startOne(false).catch(() => {});
    }
    if (!this.#closed && this.#slots.size + this.#starting < this.#opts.minInstances) void this.warm(this.#opts.minInstances).catch((err) => this.#opts.onError?.(err));
  }

  async #startOne(throwOnError: boolean): Promise<void> {
    this.#starting++;
    const t0 = performance.now();
    let started: Started;
    try {
      started = await this.#opts.start(!throwOnError);
    } catch (err) {
      this.#starting--;
      this.#startFailed(err);
      if (throwOnError) throw err;
      this.#opts.onError?.(err);
      return;
    }
    const { instance } = started;
    // A warm-up (a deploy, min_instances) must know the code loads; a request in a hurry goes
    // in behind the load and the instance is retired if the load fails after all.
    if (throwOnError && instance.ready) {
      try {
        await instance.ready;
      } catch (err) {
        this.#starting--;
        await instance.stop().catch((e) => this.#opts.onError?.(e));
        this.#startFailed(err);
        throw err;
      }
    }
    this.#starting--;
    if (this.#closed && this.#waiters.length === 0) {
      await instance.stop().catch((err) => this.#opts.onError?.(err));
      this.#checkDrained();
      return;
    }
    const now = performance.now();
    const slot: Slot = { instance, inflight: 0, lastUsed: Date.now(), readyAt: now, startMs: now - t0, started };
    this.#slots.add(slot);
    if (!throwOnError && instance.ready) {
      instance.ready.catch((err: unknown) => {
        void this.#retire(slot);
        this.#startFailed(err);
        this.#opts.onError?.(err);
      });
    }
    this.#dispatch();
    this.#checkDrained();
  }

  /** A start failed: a failure of the function's own code makes requests fail fast for a while. */
  #startFailed(err: unknown): void {
    if ((err as { kind?: string }).kind === "user") {
      this.#broken = err;
      this.#brokenUntil = Date.now() + BROKEN_BACKOFF_MS;
    }
    // Nobody else will bring an instance for these waiters: fail them with the cause.
    if (this.#slots.size === 0 && this.#starting === 0) for (const w of this.#waiters.splice(0)) w.reject(err);
    this.#checkDrained();
  }

  #retire(slot: Slot): Promise<void> {
    if (!this.#slots.delete(slot)) return Promise.resolve();
    return slot.instance.stop().catch((err) => this.#opts.onError?.(err));
  }

  #checkDrained(): void {
    if (this.#drained && this.stats.inflight === 0 && this.#starting === 0) {
      const done = this.#drained;
      this.#drained = null;
      done();
    }
  }
}
