/**
 * @module runtime/start-gate
 * How many containers boot at once. A deploy of many warm instances (min_instances over ten
 * functions) asked runc for all of them in the same tick: on 2 cores, 100 nodes booting side by
 * side each took longer than the instance's readiness timeout, and the deploy failed where one
 * started after another would all have come up. Starts in the background (warm-ups, stem cells)
 * now take turns, `limit` at a time; a start a request waits for never queues behind them.
 */
import { availableParallelism } from "node:os";

/** Background starts at once: two per core keep every core busy while runc waits on the kernel. */
export function defaultStartLimit(cores = availableParallelism()): number {
  return Math.max(2, 2 * cores);
}

export class StartGate {
  readonly limit: number;
  #running = 0;
  readonly #queue: Array<{ turn: () => void; cancel: (err: Error) => void }> = [];
  #closed: Error | null = null;

  constructor(limit = defaultStartLimit()) {
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`StartGate: limit must be a whole number ≥ 1, got ${limit}`);
    this.limit = limit;
  }

  /** Starts running now (urgent ones included) and waiting for a turn. */
  get stats(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#queue.length };
  }

  /**
   * Runs `start` when a turn is free; `urgent` (a request is waiting for it) runs at once. Either
   * way it holds a turn while it runs, so background starts wait for urgent ones too.
   */
  async run<T>(start: () => Promise<T>, urgent = false): Promise<T> {
    if (this.#closed) throw this.#closed;
    // A turn handed over by a finishing start arrives already counted (see below).
    if (!urgent && this.#running >= this.limit) await new Promise<void>((turn, cancel) => this.#queue.push({ turn, cancel }));
    else this.#running++;
    try {
      return await start();
    } finally {
      // Handed straight to the next in line, so no start arriving meanwhile slips in ahead of it.
      const next = this.#running - 1 < this.limit ? this.#queue.shift() : undefined;
      if (next) next.turn();
      else this.#running--;
    }
  }

  /** Refuses every start still waiting for a turn, and any asked for from now on, with `err`. */
  close(err: Error): void {
    this.#closed ??= err;
    for (const { cancel } of this.#queue.splice(0)) cancel(err);
  }
}
