/**
 * @module runtime/bootstrap/web/real
 * node's own fetch classes (its bundled undici), reached only when something needs them: a
 * body kind only they handle (FormData, async iterables), a Request a function constructs
 * itself, fetch(). Loading them costs ~50 ms of CPU, ~100 ms of a cold start under a
 * 0.5-core quota; the light classes beside this file cover the rest without them.
 *
 * node defines these globals as lazy getters that replace themselves with the loaded class.
 * The getters are captured here, when this module is evaluated (before web/globals.ts puts
 * the light classes in their place), and called only on demand; the light classes are put
 * back afterwards.
 */

export type RealKind = "Request" | "Response" | "Headers";
export interface RealClasses {
  Request: typeof Request;
  Response: typeof Response;
  Headers: typeof Headers;
}

const KINDS: RealKind[] = ["Request", "Response", "Headers"];
const captured = new Map(KINDS.map((k) => [k, Object.getOwnPropertyDescriptor(globalThis, k)!]));
/** node's fetch, as it was before globals.ts wrapped it. */
export const nodeFetch: typeof fetch = globalThis.fetch;

let classes: RealClasses | undefined;
let installed: Partial<Record<RealKind, unknown>> = {};

/** Tells real() which light classes to put back on globalThis after node's getters ran. */
export function rememberInstalled(ours: Record<RealKind, unknown>): void {
  installed = ours;
}

/** node's own classes, loaded on first call. */
export function real(): RealClasses {
  if (classes) return classes;
  const c = {} as Record<RealKind, unknown>;
  for (const k of KINDS) {
    const d = captured.get(k)!;
    c[k] = d.get ? d.get.call(globalThis) : d.value;
  }
  for (const k of KINDS) {
    if (installed[k]) Object.defineProperty(globalThis, k, { value: installed[k], writable: true, configurable: true, enumerable: false });
  }
  return (classes = c as unknown as RealClasses);
}

/** Whether node's classes have been loaded through real(). */
export function realLoaded(): boolean {
  return classes !== undefined;
}

/**
 * Whether `x` is an instance of node's own class `kind` (e.g. a Response from fetch()). Only an
 * object tagged as one can be: anything else is answered without loading node's classes.
 */
export function isReal(kind: RealKind, x: unknown): boolean {
  if (typeof x !== "object" || x === null || Object.prototype.toString.call(x) !== `[object ${kind}]`) return false;
  return x instanceof real()[kind];
}
