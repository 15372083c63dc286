/**
 * @module runtime/stem-pool
 * Stem cells: generic containers from the base image, bootstrap running, no function
 * loaded. A cold request takes one and specializes it; the pool refills in the background,
 * one start at a time, off the request path, and only while the memory budget has room
 * (a stem cell never pushes a warm instance out).
 */

/** What the pool needs of a stem cell. */
export interface StemCell {
  readonly id: string;
  stop(): Promise<void>;
}

export interface StemPoolOptions<S extends StemCell> {
  size: number;
  /** Starts one stem cell (its memory is already reserved). */
  start: () => Promise<S>;
  /** Reserves a stem cell's memory without evicting anything; false when it does not fit. */
  reserve: () => boolean;
  release: () => void;
  /** Told when a start that reserve() allowed has ended, whatever its outcome. */
  onSettled?: () => void;
  onError?: (err: unknown) => void;
}

/** How long after a stem cell is taken its replacement starts (off the taker's critical path). */
const REFILL_DELAY_MS = 100;

export class StemPool<S extends StemCell> {
  readonly #opts: StemPoolOptions<S>;
  readonly #ready: S[] = [];
  #starting = 0;
  #closed = false;
  #failures = 0;
  #retry: NodeJS.Timeout | null = null;
  #refill: NodeJS.Timeout | null = null;

  constructor(opts: StemPoolOptions<S>) {
    if (!Number.isInteger(opts.size) || opts.size < 0) throw new TypeError("StemPool: size must be a whole number ≥ 0");
    this.#opts = opts;
  }

  get stats() {
    return { size: this.#opts.size, ready: this.#ready.length, starting: this.#starting };
  }

  /**
   * A ready stem cell, now the caller's (its memory reservation moves with it), or undefined.
   * The refill waits REFILL_DELAY_MS: a new stem cell's boot (runc, node) competes for the
   * CPU with the specialization and first request it is taken for (measured: specialize took
   * 13-20 ms with the refill running beside it, 6-8 ms without).
   */
  take(): S | undefined {
    const stem = this.#ready.shift();
    if (!this.#refill) {
      this.#refill = setTimeout(() => {
        this.#refill = null;
        this.fill();
      }, REFILL_DELAY_MS);
      this.#refill.unref();
    }
    return stem;
  }

  /**
   * Starts stem cells until `size` are ready or starting; one start at a time. While a taken
   * stem cell's replacement waits out REFILL_DELAY_MS this does nothing: the pool manager's
   * reaper calls it every tick (every 75 ms with a 300 ms idle_timeout) and started the
   * replacement beside the taker's specialization and first request.
   */
  fill(): void {
    if (this.#closed || this.#starting > 0 || this.#retry || this.#refill) return;
    if (this.#ready.length >= this.#opts.size) return;
    if (!this.#opts.reserve()) return;
    this.#starting++;
    this.#opts.start().then(
      (stem) => {
        this.#starting--;
        this.#failures = 0;
        this.#opts.onSettled?.();
        if (this.#closed) {
          this.#dispose(stem);
          return;
        }
        this.#ready.push(stem);
        this.fill();
      },
      (err) => {
        this.#starting--;
        this.#opts.release();
        this.#opts.onSettled?.();
        this.#opts.onError?.(err);
        // Back off on repeated failures (runc broken, disk full) instead of spinning.
        this.#failures++;
        this.#retry = setTimeout(() => {
          this.#retry = null;
          this.fill();
        }, Math.min(30_000, 100 * 2 ** this.#failures));
        this.#retry.unref();
      },
    );
  }

  /** Stops one ready stem cell to free its memory; resolves once it is gone (null: none was ready). */
  dropOne(): Promise<void> | null {
    const stem = this.#ready.pop();
    return stem ? this.#dispose(stem) : null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#refill) clearTimeout(this.#refill);
    await Promise.all(this.#ready.splice(0).map((s) => this.#dispose(s)));
    // A start in flight disposes of its stem cell when it lands (see fill()).
    while (this.#starting > 0) await new Promise((r) => setTimeout(r, 10));
  }

  #dispose(stem: S): Promise<void> {
    return stem
      .stop()
      .catch((err) => this.#opts.onError?.(err))
      .finally(() => this.#opts.release());
  }
}
