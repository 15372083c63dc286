/**
 * @module gateway/workers/record-rows
 * Invocation records on their way from a gateway worker to the daemon, flattened into one
 * array of values (RECORD_FIELDS in order, record after record). The structured clone of an
 * object writes each of its keys again: `v8.serialize` of 300 records took 1.0-1.5 µs a record
 * as objects and 0.8-1.25 µs as rows, flattening included.
 */
import type { InvocationRecord } from "../public-server.ts";

const RECORD_FIELDS = ["id", "fn", "method", "path", "status", "outcome", "kind", "queueMs", "startMs", "createMs", "specializeMs", "handlerMs", "totalMs", "at", "functionError"] as const satisfies ReadonlyArray<keyof InvocationRecord>;
type Field = (typeof RECORD_FIELDS)[number];
// Every field of InvocationRecord is listed: a new one that is not fails to compile here.
type Missing = Exclude<keyof InvocationRecord, Field>;
const allListed: Missing extends never ? true : Missing = true;
void allListed;

/** Appends `r`'s values to `rows`, in RECORD_FIELDS order. */
export function appendRecord(rows: unknown[], r: InvocationRecord): void {
  for (const f of RECORD_FIELDS) rows.push(r[f]);
}

/** The records in `rows`, in order; a row that is cut short is dropped. */
export function* recordsOf(rows: readonly unknown[]): Generator<InvocationRecord> {
  const n = RECORD_FIELDS.length;
  for (let i = 0; i + n <= rows.length; i += n) {
    const r: Record<string, unknown> = {};
    for (let j = 0; j < n; j++) if (rows[i + j] !== undefined) r[RECORD_FIELDS[j]] = rows[i + j];
    yield r as unknown as InvocationRecord;
  }
}
