/**
 * @module gateway/invocation-log
 * The recent invocations (a bounded ring) and per-function counts by how each started
 * (warm, stem cell, cold) — what `fnrun ls` and `GET /v1/invocations` show.
 *
 * The ring keeps each record's fields in columns (typed arrays for the numbers), not the record
 * objects: a record made per request then dies young, where a kept one would be copied by the
 * young-generation GC and promoted, about 400 bytes a request that the old generation then
 * collects again. recent() builds the records it is asked for.
 */
import type { StartKind } from "../runtime/function-pool.ts";
import type { InvocationRecord } from "./public-server.ts";

export interface FunctionCounts {
  invocations: number;
  errors: number;
  starts: { warm: number; stem: number; cold: number };
}

/** The number fields of a record, one column each; an absent optional one is NaN. */
const NUMBERS = ["status", "queueMs", "startMs", "createMs", "specializeMs", "handlerMs", "totalMs", "at"] as const;
type NumberField = (typeof NUMBERS)[number];
const OPTIONAL = new Set<NumberField>(["createMs", "specializeMs", "handlerMs"]);

export class InvocationLog {
  readonly #capacity: number;
  /** Records held, up to capacity; the next one goes to #next. */
  #size = 0;
  #next = 0;
  readonly #id: string[];
  readonly #fn: string[];
  readonly #method: string[];
  readonly #path: string[];
  readonly #outcome: string[];
  readonly #kind: (StartKind | null)[];
  readonly #functionError: (string | undefined)[];
  readonly #numbers: Record<NumberField, Float64Array>;
  readonly #counts = new Map<string, FunctionCounts>();

  constructor(capacity = 1000) {
    this.#capacity = capacity;
    this.#id = new Array<string>(capacity).fill("");
    this.#fn = new Array<string>(capacity).fill("");
    this.#method = new Array<string>(capacity).fill("");
    this.#path = new Array<string>(capacity).fill("");
    this.#outcome = new Array<string>(capacity).fill("");
    this.#kind = new Array<StartKind | null>(capacity).fill(null);
    this.#functionError = new Array<string | undefined>(capacity).fill(undefined);
    this.#numbers = Object.fromEntries(NUMBERS.map((f) => [f, new Float64Array(capacity)])) as Record<NumberField, Float64Array>;
  }

  add(record: InvocationRecord): void {
    const i = this.#next;
    this.#id[i] = record.id;
    this.#fn[i] = record.fn;
    this.#method[i] = record.method;
    // One path string for a run of requests to the same path, not one kept per request.
    const prev = i === 0 ? this.#capacity - 1 : i - 1;
    this.#path[i] = this.#path[prev] === record.path ? this.#path[prev] : record.path;
    this.#outcome[i] = record.outcome;
    this.#kind[i] = record.kind;
    this.#functionError[i] = record.functionError;
    const n = this.#numbers;
    n.status[i] = record.status;
    n.queueMs[i] = record.queueMs;
    n.startMs[i] = record.startMs;
    n.createMs[i] = record.createMs ?? NaN;
    n.specializeMs[i] = record.specializeMs ?? NaN;
    n.handlerMs[i] = record.handlerMs ?? NaN;
    n.totalMs[i] = record.totalMs;
    n.at[i] = record.at;
    this.#next = i + 1 === this.#capacity ? 0 : i + 1;
    if (this.#size < this.#capacity) this.#size++;

    let c = this.#counts.get(record.fn);
    if (!c) this.#counts.set(record.fn, (c = { invocations: 0, errors: 0, starts: { warm: 0, stem: 0, cold: 0 } }));
    c.invocations++;
    if (record.status >= 500) c.errors++;
    if (record.kind) c.starts[record.kind]++;
  }

  /** The newest `limit` records, newest last; only `fn`'s when given. */
  recent(limit = 100, fn?: string): InvocationRecord[] {
    const out: InvocationRecord[] = [];
    // From the newest back, until limit are found.
    for (let k = 1; k <= this.#size && out.length < limit; k++) {
      const i = (this.#next - k + this.#capacity) % this.#capacity;
      if (fn === undefined || this.#fn[i] === fn) out.push(this.#record(i));
    }
    return out.reverse();
  }

  #record(i: number): InvocationRecord {
    const n = this.#numbers;
    const r: InvocationRecord = {
      id: this.#id[i],
      fn: this.#fn[i],
      method: this.#method[i],
      path: this.#path[i],
      status: n.status[i],
      outcome: this.#outcome[i],
      kind: this.#kind[i],
      queueMs: n.queueMs[i],
      startMs: n.startMs[i],
      totalMs: n.totalMs[i],
      at: n.at[i],
    };
    for (const f of OPTIONAL) if (!Number.isNaN(n[f][i])) r[f as "createMs"] = n[f][i];
    if (this.#functionError[i] !== undefined) r.functionError = this.#functionError[i];
    return r;
  }

  counts(fn: string): FunctionCounts {
    return this.#counts.get(fn) ?? { invocations: 0, errors: 0, starts: { warm: 0, stem: 0, cold: 0 } };
  }

  forget(fn: string): void {
    this.#counts.delete(fn);
  }
}
