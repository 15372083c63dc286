/**
 * @module runtime/pool-manager
 * One FunctionPool per deployed function (undici's Agent: a Map from key to pool, built
 * through a factory), the stem cells they share, and the memory budget over all of them.
 * A deploy builds the new revision's pool and warms it before it takes traffic; the old
 * revision then drains, so a redeploy fails no request.
 */
import { FunctionPool, type Lease, type PooledInstance, type Started } from "./function-pool.ts";
import { MemoryBudget } from "./memory-budget.ts";
import { atCapacity, functionNotFound, PoolError, shuttingDown } from "./pool-errors.ts";
import { StartGate } from "./start-gate.ts";
import { StemPool, type StemCell } from "./stem-pool.ts";

/** Everything the pool needs to know of one revision of a function. */
export interface PoolDefinition {
  name: string;
  revision: string;
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  /** Requests that may wait for a slot before acquire() fails with FNRUN_QUEUE_FULL. */
  maxQueue: number;
  /** The instance's memory limit: what it holds of the budget. */
  memoryBytes: number;
  /** A stem cell can become this function (its image is the pool's base plus its bundle). */
  stemCompatible: boolean;
}

export interface PoolManagerOptions<D extends PoolDefinition, S extends StemCell> {
  /** Starts an instance of a revision from its own image (the composition root binds runc, the store, the state dir). */
  startCold: (def: D) => Promise<PooledInstance>;
  /**
   * Starts a stem cell from the base image; with specialize, turns it into an instance of `def`.
   * specialize may resolve before the function's code has loaded, with the instance's `ready`
   * saying when it has (Instance.beginSpecialize): the request that asked for the start then goes
   * in while the code loads.
   */
  startStem?: () => Promise<S>;
  specialize?: (stem: S, def: D) => Promise<PooledInstance>;
  stemCells?: number;
  stemMemoryBytes?: number;
  memoryBudgetBytes: number;
  idleTimeoutMs: number;
  /** Containers booting at once for warm-ups and stem cells (runtime/start-gate.ts; default two per core). */
  startLimit?: number;
  onError?: (err: unknown) => void;
}

export class PoolManager<D extends PoolDefinition = PoolDefinition, S extends StemCell = StemCell> {
  readonly #opts: PoolManagerOptions<D, S>;
  readonly #pools = new Map<string, { def: D; pool: FunctionPool }>();
  readonly #draining = new Set<Promise<void>>();
  readonly #reaper: NodeJS.Timeout;
  readonly budget: MemoryBudget;
  readonly #stems: StemPool<S> | null;
  readonly #gate: StartGate;
  /** Starts that hold a reservation but have no instance yet, and who waits for one to settle. */
  #pendingStarts = 0;
  #settleWaiters: Array<() => void> = [];

  constructor(opts: PoolManagerOptions<D, S>) {
    if (!(opts.idleTimeoutMs > 0)) throw new TypeError("PoolManager: idleTimeoutMs must be > 0");
    if ((opts.stemCells ?? 0) > 0 && !(opts.startStem && opts.specialize && (opts.stemMemoryBytes ?? 0) > 0)) {
      throw new TypeError("PoolManager: stemCells needs startStem, specialize and stemMemoryBytes");
    }
    this.#opts = opts;
    this.budget = new MemoryBudget(opts.memoryBudgetBytes);
    const gate = (this.#gate = new StartGate(opts.startLimit));
    const stemBytes = opts.stemMemoryBytes ?? 0;
    this.#stems =
      (opts.stemCells ?? 0) > 0
        ? new StemPool<S>({
            size: opts.stemCells!,
            start: () => gate.run(opts.startStem!),
            reserve: () => {
              if (!this.budget.tryReserve(stemBytes)) return false;
              this.#pendingStarts++;
              return true;
            },
            release: () => this.budget.release(stemBytes),
            onSettled: () => this.#settled(),
            onError: opts.onError,
          })
        : null;
    this.#reaper = setInterval(() => {
      for (const { pool } of this.#pools.values()) pool.reapIdle();
      this.#stems?.fill(); // room may have come back
    }, Math.min(1000, Math.max(50, opts.idleTimeoutMs / 4)));
    this.#reaper.unref();
  }

  /** Starts the stem cells (in the background; they never delay a request). */
  fillStemCells(): void {
    this.#stems?.fill();
  }

  /**
   * Makes `def` the serving revision of its function. The new pool is warmed with at least
   * one instance first, so a function that cannot start fails its deploy and the old
   * revision keeps serving. `check`, when given, is asked about one started instance before
   * the swap (e.g. whether the module has the handlers its config needs); throwing fails the deploy.
   */
  async deploy(def: D, check?: (instance: PooledInstance) => Promise<void>): Promise<void> {
    const pool: FunctionPool = new FunctionPool({
      name: def.name,
      revision: def.revision,
      concurrency: def.concurrency,
      minInstances: def.minInstances,
      maxInstances: def.maxInstances,
      maxQueue: def.maxQueue,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      start: (urgent) => this.#start(def, urgent),
      onError: this.#opts.onError,
    });
    try {
      await pool.warm(Math.max(1, def.minInstances));
      if (check) {
        const lease = await pool.acquire();
        try {
          await check(lease.instance);
        } finally {
          lease.release("ok");
        }
      }
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    const old = this.#pools.get(def.name);
    this.#pools.set(def.name, { def, pool });
    if (old) this.#drain(old.pool);
  }

  /** A lease on an instance of the function's serving revision. */
  async acquire(name: string): Promise<Lease> {
    for (;;) {
      const entry = this.#pools.get(name);
      if (!entry) throw functionNotFound(name);
      try {
        return await entry.pool.acquire();
      } catch (err) {
        // The revision began draining while we waited: ask the one that replaced it.
        if (err instanceof PoolError && err.code === "FNRUN_POOL_CLOSED" && this.#pools.get(name) !== entry) continue;
        throw err;
      }
    }
  }

  /** A lease on a warm instance of `name` with a free slot, now; undefined when acquire() must wait, start one, or fail. */
  tryAcquire(name: string): Lease | undefined {
    return this.#pools.get(name)?.pool.tryAcquire();
  }

  /**
   * Makes sure the function has an instance ready and fresh (its idle clock restarted), e.g.
   * just before a scheduled run: a lease taken and given back at once. Starts one if needed.
   */
  async warm(name: string): Promise<void> {
    const lease = await this.acquire(name);
    lease.release("ok");
  }

  has(name: string): boolean {
    return this.#pools.has(name);
  }

  definition(name: string): D | undefined {
    return this.#pools.get(name)?.def;
  }

  /** Per-function counters, read-only. */
  list(): Array<{ name: string; revision: string; list: FunctionPool["instances"] } & FunctionPool["stats"]> {
    return [...this.#pools.values()].map(({ def, pool }) => ({ name: def.name, revision: def.revision, ...pool.stats, list: pool.instances }));
  }

  /** Stem cells and the memory budget, read-only. */
  get stats() {
    return {
      stemCells: this.#stems?.stats ?? { size: 0, ready: 0, starting: 0 },
      memory: { budget: this.budget.total, reserved: this.budget.used },
    };
  }

  /** Stops serving `name`; resolves when its instances are gone. */
  async remove(name: string): Promise<boolean> {
    const entry = this.#pools.get(name);
    if (!entry) return false;
    this.#pools.delete(name);
    await entry.pool.close();
    return true;
  }

  /** Graceful: every pool drains and stops its instances; stem cells stop. */
  async close(): Promise<void> {
    clearInterval(this.#reaper);
    this.#gate.close(shuttingDown());
    const pools = [...this.#pools.values()].map((e) => e.pool.close());
    this.#pools.clear();
    await Promise.all([...pools, ...this.#draining, this.#stems?.close()]);
  }

  /** Abrupt: every instance is stopped now. */
  async destroy(): Promise<void> {
    clearInterval(this.#reaper);
    this.#gate.close(shuttingDown());
    const pools = [...this.#pools.values()].map((e) => e.pool.destroy());
    this.#pools.clear();
    await Promise.all([...pools, ...this.#draining, this.#stems?.close()]);
  }

  /**
   * One new instance of `def`: a specialized stem cell when one is ready, else a cold start,
   * which waits for a turn to boot unless a request is waiting for it (`urgent`).
   */
  async #start(def: D, urgent: boolean): Promise<Started> {
    const t0 = performance.now();
    const stem = def.stemCompatible ? this.#stems?.take() : undefined;
    if (stem) {
      const stemBytes = this.#opts.stemMemoryBytes!;
      let held = stemBytes;
      // The taken stem cell's reservation is a start in flight until it is the function's instance (or gone).
      this.#pendingStarts++;
      try {
        // The stem cell's reservation becomes the function's: grow it (making room) or shrink it.
        if (def.memoryBytes > stemBytes) await this.#makeRoom(def.memoryBytes - stemBytes, def.name, true);
        else this.budget.release(stemBytes - def.memoryBytes);
        held = def.memoryBytes;
        const instance = await this.#opts.specialize!(stem, def);
        return { instance: this.#accounted(instance, held), kind: "stem", createMs: 0, specializeMs: performance.now() - t0 };
      } catch (err) {
        await stem.stop().catch((e) => this.#opts.onError?.(e));
        this.budget.release(held);
        // The function's own code failed to load: a cold start would fail the same way.
        if ((err as { code?: string }).code === "FNRUN_FUNCTION_INIT" || (err as { code?: string }).code === "FNRUN_AT_CAPACITY") throw err;
        this.#opts.onError?.(err);
      } finally {
        this.#settled();
      }
    }
    await this.#makeRoom(def.memoryBytes, def.name); // counts this start in flight, with its reservation
    const t1 = performance.now();
    try {
      const instance = await this.#gate.run(() => this.#opts.startCold(def), urgent);
      return { instance: this.#accounted(instance, def.memoryBytes), kind: "cold", createMs: performance.now() - t1, specializeMs: 0 };
    } catch (err) {
      this.budget.release(def.memoryBytes);
      throw err;
    } finally {
      this.#settled();
    }
  }

  /** A start that held a reservation got its instance or failed: room may be reclaimable now. */
  #settled(): void {
    this.#pendingStarts--;
    // Woken after the current microtasks, so the FunctionPool has registered the new instance (evictable now).
    setImmediate(() => {
      for (const wake of this.#settleWaiters.splice(0)) wake();
    });
  }

  /**
   * Reserves `bytes` of the budget, stopping stem cells and then idle instances of other
   * functions, least recently used first, until they fit; FNRUN_AT_CAPACITY when nothing
   * idle is left to stop and no other start is in flight. The reservation is counted as a
   * start in flight in the same tick as it is made (a concurrent makeRoom must see it and
   * wait, not fail), and the caller ends it with #settled(); `counted`: the caller's start is
   * counted already (a stem cell growing into a function), so it waits only for others.
   */
  async #makeRoom(bytes: number, forFn: string, counted = false): Promise<void> {
    while (!this.budget.tryReserve(bytes)) {
      const dropped = this.#stems?.dropOne();
      if (dropped) {
        await dropped;
        continue;
      }
      let evicted: Promise<void> | null = null;
      // Idle instances of other functions, least recently used first.
      const idle: Array<{ id: string; lastUsed: number; pool: FunctionPool }> = [];
      for (const { pool } of this.#pools.values()) if (pool.name !== forFn) for (const c of pool.evictable()) idle.push({ ...c, pool });
      idle.sort((a, b) => a.lastUsed - b.lastUsed);
      for (const c of idle) {
        evicted = c.pool.evict(c.id);
        if (evicted) break;
      }
      if (evicted) {
        await evicted;
        continue;
      }
      // Starts in flight hold memory but are not idle instances yet: once one lands it may be evictable.
      if (this.#pendingStarts > (counted ? 1 : 0)) {
        await new Promise<void>((resolve) => this.#settleWaiters.push(resolve));
        continue;
      }
      throw atCapacity(forFn, bytes, this.budget);
    }
    if (!counted) this.#pendingStarts++;
  }

  /** Returns an instance's reservation to the budget once it has stopped. */
  #accounted(instance: PooledInstance, bytes: number): PooledInstance {
    let released = false;
    return {
      id: instance.id,
      dispatcher: instance.dispatcher,
      socketPath: instance.socketPath,
      ready: instance.ready,
      oomKilled: instance.oomKilled && (() => instance.oomKilled!()),
      stop: async () => {
        try {
          await instance.stop();
        } finally {
          if (!released) this.budget.release(bytes);
          released = true;
        }
      },
    };
  }

  #drain(pool: FunctionPool): void {
    const done: Promise<void> = pool
      .close()
      .catch((err) => this.#opts.onError?.(err))
      .finally(() => this.#draining.delete(done));
    this.#draining.add(done);
  }
}
