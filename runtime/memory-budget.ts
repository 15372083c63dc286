/**
 * @module runtime/memory-budget
 * The sum of the memory limits of every warm instance and stem cell, held under
 * `[pool] memory_budget`. Limits, not usage: a limit is what an instance may take, so a
 * host that holds the sum of limits never has to OOM-kill one function for another.
 */

export class MemoryBudget {
  readonly total: number;
  #used = 0;

  constructor(totalBytes: number) {
    if (!(totalBytes > 0)) throw new TypeError("MemoryBudget: totalBytes must be > 0");
    this.total = totalBytes;
  }

  get used(): number {
    return this.#used;
  }

  get free(): number {
    return this.total - this.#used;
  }

  /** Takes `bytes` when they fit; returns whether it did. */
  tryReserve(bytes: number): boolean {
    if (bytes > 0 && this.#used + bytes > this.total) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}
