/**
 * @module runtime/pool-manager
 * One FunctionPool per deployed function (undici's Agent: a Map from key to pool, built
 * through a factory). A deploy builds the new revision's pool and warms it before it takes
 * traffic; the old revision then drains, so a redeploy fails no request.
 */
import { FunctionPool, type Lease, type PooledInstance } from "./function-pool.ts";
import { functionNotFound, PoolError } from "./pool-errors.ts";

/** Everything the pool needs to know of one revision of a function. */
export interface PoolDefinition {
  name: string;
  revision: string;
  concurrency: number;
  minInstances: number;
  maxInstances: number;
}

export interface PoolManagerOptions<D extends PoolDefinition> {
  /** Starts one instance of a revision (the composition root binds runc, the store, the state dir). */
  start: (def: D) => Promise<PooledInstance>;
  idleTimeoutMs: number;
  maxQueue?: number;
  onError?: (err: unknown) => void;
}

export class PoolManager<D extends PoolDefinition = PoolDefinition> {
  readonly #opts: PoolManagerOptions<D>;
  readonly #pools = new Map<string, { def: D; pool: FunctionPool }>();
  readonly #draining = new Set<Promise<void>>();
  readonly #reaper: NodeJS.Timeout;

  constructor(opts: PoolManagerOptions<D>) {
    if (!(opts.idleTimeoutMs > 0)) throw new TypeError("PoolManager: idleTimeoutMs must be > 0");
    this.#opts = opts;
    this.#reaper = setInterval(() => {
      for (const { pool } of this.#pools.values()) pool.reapIdle();
    }, Math.min(1000, Math.max(50, opts.idleTimeoutMs / 4)));
    this.#reaper.unref();
  }

  /**
   * Makes `def` the serving revision of its function. The new pool is warmed with at least
   * one instance first, so a function that cannot start fails its deploy and the old
   * revision keeps serving.
   */
  async deploy(def: D): Promise<void> {
    const pool = new FunctionPool({
      name: def.name,
      revision: def.revision,
      concurrency: def.concurrency,
      minInstances: def.minInstances,
      maxInstances: def.maxInstances,
      maxQueue: this.#opts.maxQueue ?? 1000,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      start: () => this.#opts.start(def),
      onError: this.#opts.onError,
    });
    try {
      await pool.warm(Math.max(1, def.minInstances));
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

  has(name: string): boolean {
    return this.#pools.has(name);
  }

  definition(name: string): D | undefined {
    return this.#pools.get(name)?.def;
  }

  /** Per-function counters, read-only. */
  list(): Array<{ name: string; revision: string } & FunctionPool["stats"]> {
    return [...this.#pools.values()].map(({ def, pool }) => ({ name: def.name, revision: def.revision, ...pool.stats }));
  }

  /** Stops serving `name`; resolves when its instances are gone. */
  async remove(name: string): Promise<boolean> {
    const entry = this.#pools.get(name);
    if (!entry) return false;
    this.#pools.delete(name);
    await entry.pool.close();
    return true;
  }

  /** Graceful: every pool drains and stops its instances. */
  async close(): Promise<void> {
    clearInterval(this.#reaper);
    const pools = [...this.#pools.values()].map((e) => e.pool.close());
    this.#pools.clear();
    await Promise.all([...pools, ...this.#draining]);
  }

  /** Abrupt: every instance is stopped now. */
  async destroy(): Promise<void> {
    clearInterval(this.#reaper);
    const pools = [...this.#pools.values()].map((e) => e.pool.destroy());
    this.#pools.clear();
    await Promise.all([...pools, ...this.#draining]);
  }

  #drain(pool: FunctionPool): void {
    const done: Promise<void> = pool
      .close()
      .catch((err) => this.#opts.onError?.(err))
      .finally(() => this.#draining.delete(done));
    this.#draining.add(done);
  }
}
