/**
 * @module gateway/invocation-log
 * The recent invocations (a bounded ring) and per-function counts by how each started
 * (warm, stem cell, cold) — what `fnrun ls` and `GET /v1/invocations` show.
 */
import type { InvocationRecord } from "./public-server.ts";

export interface FunctionCounts {
  invocations: number;
  errors: number;
  starts: { warm: number; stem: number; cold: number };
}

export class InvocationLog {
  readonly #ring: InvocationRecord[] = [];
  readonly #capacity: number;
  #next = 0;
  readonly #counts = new Map<string, FunctionCounts>();

  constructor(capacity = 1000) {
    this.#capacity = capacity;
  }

  add(record: InvocationRecord): void {
    if (this.#ring.length < this.#capacity) this.#ring.push(record);
    else this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % this.#capacity;
    let c = this.#counts.get(record.fn);
    if (!c) this.#counts.set(record.fn, (c = { invocations: 0, errors: 0, starts: { warm: 0, stem: 0, cold: 0 } }));
    c.invocations++;
    if (record.status >= 500) c.errors++;
    if (record.kind) c.starts[record.kind]++;
  }

  /** The newest `limit` records, newest last; only `fn`'s when given. */
  recent(limit = 100, fn?: string): InvocationRecord[] {
    const ordered = this.#ring.length < this.#capacity ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    const matching = fn ? ordered.filter((r) => r.fn === fn) : ordered;
    return matching.slice(-limit);
  }

  counts(fn: string): FunctionCounts {
    return this.#counts.get(fn) ?? { invocations: 0, errors: 0, starts: { warm: 0, stem: 0, cold: 0 } };
  }

  forget(fn: string): void {
    this.#counts.delete(fn);
  }
}
