/**
 * @module runtime/bootstrap/web/headers
 * The `Headers` a function sees (the global, installed by web/globals.ts): the Fetch
 * standard's Headers (https://fetch.spec.whatwg.org/#headers-class), written here because
 * node's own lives in its bundled undici, whose first use costs ~50 ms of CPU (more than node
 * itself takes to boot), and a request's or response's headers are touched by nearly every
 * function. Behaves as node's: names lower-cased and validated as tokens, values trimmed and
 * refused with NUL/CR/LF or a character above U+00FF, values of one name joined with ", "
 * (`cookie` with "; ", as undici does), `set-cookie` kept apart for getSetCookie() and for
 * iteration, iteration sorted by name and live, `immutable` headers of Response.error() and
 * Response.redirect() refusing changes.
 */
import { isReal } from "./real.ts";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_IN_VALUE = /[\0\r\n]/;
const NON_BYTE = /[^\u0000-\u00ff]/;

function isWhitespace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Strips leading and trailing HTTP whitespace (fetch's "normalize"). */
function normalize(value: string): string {
  let i = 0;
  let j = value.length;
  while (j > i && isWhitespace(value.charCodeAt(j - 1))) j--;
  while (i < j && isWhitespace(value.charCodeAt(i))) i++;
  return i === 0 && j === value.length ? value : value.slice(i, j);
}

/** WebIDL ByteString: a string whose every code unit is below 256. */
function byteString(v: unknown, what: string): string {
  const s = typeof v === "string" ? v : String(v);
  const m = NON_BYTE.exec(s);
  if (m) throw new TypeError(`${what}: cannot convert to a ByteString: the character at index ${m.index} has the value ${s.charCodeAt(m.index)}, greater than 255`);
  return s;
}

function checkedName(name: unknown, op: string): string {
  const n = byteString(name, `Headers.${op}`);
  if (!TOKEN.test(n)) throw new TypeError(`Headers.${op}: "${n}" is an invalid header name.`);
  return n.toLowerCase();
}

function checkedValue(value: unknown, op: string): string {
  const v = normalize(byteString(value, `Headers.${op}`));
  if (FORBIDDEN_IN_VALUE.test(v)) throw new TypeError(`Headers.${op}: "${v}" is an invalid header value.`);
  return v;
}

/** What FnHeaders can be made from (the Fetch standard's HeadersInit). */
export type HeadersInitLike = Iterable<Iterable<unknown>> | Record<string, unknown>;

/** A header value that needs no normalizing and holds nothing forbidden (the common case, one test). */
const PLAIN_VALUE = /^(?:[^\0\t\n\r \u0100-\uffff](?:[^\0\n\r\u0100-\uffff]*[^\0\t\n\r \u0100-\uffff])?)?$/;

/** A name as stored: lower-case, validated (a token is ASCII, so a ByteString). */
function nameOf(name: unknown, op: string): string {
  return typeof name === "string" && TOKEN.test(name) ? name.toLowerCase() : checkedName(name, op);
}

function valueOf(value: unknown, op: string): string {
  return typeof value === "string" && PLAIN_VALUE.test(value) ? value : checkedValue(value, op);
}

/** node's way of showing objects, as it hands it to a custom inspector (no import of node:util at boot). */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");
type InspectFn = (v: unknown, o: object) => string;

/** Marks a header list made from node's parsed request headers (already valid: no checks, only lower-casing). */
const FROM_RAW = Symbol("fnrun.headers.raw");

export class FnHeaders {
  /** [name, value, ...]: lower-case names, one entry per name with the values combined, in the order first seen. */
  #list: string[] = [];
  /** Every set-cookie value on its own (they cannot be combined). */
  #cookies: string[] | null = null;
  #immutable = false;
  /** The sort-and-combine list iteration walks; dropped on every change. */
  #sorted: Array<[string, string]> | null = null;

  constructor(init?: HeadersInitLike) {
    if (init === undefined) return;
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers constructor: expected a sequence of name/value pairs or a record of header values");
    }
    if (#list in init) {
      // Another of ours: its list as it is (what iterating it and appending would give, without the work).
      this.#list = init.#list.slice();
      this.#cookies = init.#cookies && init.#cookies.slice();
      return;
    }
    const raw = (init as { [FROM_RAW]?: string[] })[FROM_RAW];
    if (raw) {
      for (let i = 0; i < raw.length; i += 2) this.#add(raw[i].toLowerCase(), raw[i + 1]);
      return;
    }
    const iterator = (init as Iterable<unknown>)[Symbol.iterator];
    if (typeof iterator === "function") {
      for (const pair of init as Iterable<unknown>) {
        const p = typeof pair === "object" && pair !== null && typeof (pair as Iterable<unknown>)[Symbol.iterator] === "function" ? [...(pair as Iterable<unknown>)] : null;
        if (!p) throw new TypeError("Headers constructor: each header must be a [name, value] pair");
        if (p.length !== 2) throw new TypeError(`Headers constructor: expected name/value pair to be length 2, found ${p.length}.`);
        this.#add(nameOf(p[0], "append"), valueOf(p[1], "append"));
      }
      return;
    }
    for (const name in init) {
      if (Object.prototype.hasOwnProperty.call(init, name)) this.#add(nameOf(name, "append"), valueOf((init as Record<string, unknown>)[name], "append"));
    }
  }

  /** Headers of a request node has parsed (`rawHeaders`): valid already, so only lower-cased. */
  static fromRaw(raw: string[]): FnHeaders {
    return new FnHeaders({ [FROM_RAW]: raw } as unknown as HeadersInitLike);
  }

  /** Makes `h` refuse changes (Response.error(), Response.redirect()). */
  static freeze(h: FnHeaders): void {
    h.#immutable = true;
  }

  static isFrozen(h: FnHeaders): boolean {
    return h.#immutable;
  }

  /** Adds a header the bootstrap itself vouches for (a lower-case name, a valid value), unless the name is there: a body's implied Content-Type. */
  static addDefault(h: FnHeaders, lowerName: string, value: string): void {
    if (h.#index(lowerName) === -1) h.#add(lowerName, value);
  }

  /**
   * The list as flat [name, value, ...] for node's writeHead (names lower-cased, set-cookie one
   * entry per cookie), or undefined when `h` is not one of ours. A new array: the caller may add to it.
   */
  static flat(h: unknown): string[] | undefined {
    if (typeof h !== "object" || h === null || !(#list in h)) return undefined;
    if (h.#cookies === null) return h.#list.slice();
    const list = h.#list;
    const out: string[] = [];
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === "set-cookie") for (const c of h.#cookies) out.push("set-cookie", c);
      else out.push(list[i], list[i + 1]);
    }
    return out;
  }

  /** Where `name` (lower-case) is in the list, or -1. */
  #index(name: string): number {
    const list = this.#list;
    for (let i = 0; i < list.length; i += 2) if (list[i] === name) return i;
    return -1;
  }

  #add(name: string, value: string): void {
    this.#sorted = null;
    if (name === "set-cookie") (this.#cookies ??= []).push(value);
    const i = this.#index(name);
    if (i === -1) this.#list.push(name, value);
    else this.#list[i + 1] += (name === "cookie" ? "; " : ", ") + value;
  }

  #mutable(): void {
    if (this.#immutable) throw new TypeError("immutable");
  }

  append(name: string, value: string): void {
    const n = nameOf(name, "append");
    const v = valueOf(value, "append");
    this.#mutable();
    this.#add(n, v);
  }

  delete(name: string): void {
    const n = nameOf(name, "delete");
    this.#mutable();
    const i = this.#index(n);
    if (i === -1) return;
    this.#list.splice(i, 2);
    if (n === "set-cookie") this.#cookies = null;
    this.#sorted = null;
  }

  get(name: string): string | null {
    const i = this.#index(nameOf(name, "get"));
    return i === -1 ? null : this.#list[i + 1];
  }

  getSetCookie(): string[] {
    return this.#cookies ? this.#cookies.slice() : [];
  }

  has(name: string): boolean {
    return this.#index(nameOf(name, "has")) !== -1;
  }

  set(name: string, value: string): void {
    const n = nameOf(name, "set");
    const v = valueOf(value, "set");
    this.#mutable();
    this.#sorted = null;
    if (n === "set-cookie") this.#cookies = [v];
    const i = this.#index(n);
    if (i === -1) this.#list.push(n, v);
    else this.#list[i + 1] = v;
  }

  /** Fetch's "sort and combine": by name, set-cookie once per cookie. */
  #pairs(): Array<[string, string]> {
    if (this.#sorted) return this.#sorted;
    const list = this.#list;
    const order: number[] = [];
    for (let i = 0; i < list.length; i += 2) order.push(i);
    order.sort((a, b) => (list[a] < list[b] ? -1 : 1));
    const out: Array<[string, string]> = [];
    for (const i of order) {
      const name = list[i];
      if (name === "set-cookie") for (const c of this.#cookies!) out.push([name, c]);
      else out.push([name, list[i + 1]]);
    }
    return (this.#sorted = out);
  }

  forEach(callback: (value: string, name: string, parent: FnHeaders) => void, thisArg?: unknown): void {
    if (typeof callback !== "function") throw new TypeError("Headers.forEach: the callback must be a function");
    // Live, as the standard's pair iterator: a change made by the callback shows in the next steps.
    for (let i = 0; i < this.#pairs().length; i++) {
      const [name, value] = this.#pairs()[i];
      callback.call(thisArg, value, name, this);
    }
  }

  *#iterate<T>(pick: (pair: [string, string]) => T): Generator<T, undefined> {
    for (let i = 0; i < this.#pairs().length; i++) yield pick(this.#pairs()[i]);
    return undefined;
  }

  /** Set below to entries() itself, as WebIDL has it. */
  declare [Symbol.iterator]: () => IterableIterator<[string, string]>;

  entries(): IterableIterator<[string, string]> {
    return this.#iterate((p) => [p[0], p[1]] as [string, string]);
  }

  keys(): IterableIterator<string> {
    return this.#iterate((p) => p[0]);
  }

  values(): IterableIterator<string> {
    return this.#iterate((p) => p[1]);
  }

  /** node's own Headers (from fetch()) is a Headers too. */
  static [Symbol.hasInstance](x: unknown): boolean {
    if (this !== FnHeaders) return Function.prototype[Symbol.hasInstance].call(this, x);
    return (typeof x === "object" && x !== null && #list in x) || isReal("Headers", x);
  }

  [INSPECT](depth: number, options: object, inspect: InspectFn): string {
    return `Headers ${inspect(Object.fromEntries(this.#pairs()), { ...options, depth: depth < 0 ? null : depth - 1 })}`;
  }
}
Object.defineProperty(FnHeaders, "name", { value: "Headers" });
// As WebIDL defines them: iterating a Headers is entries(), and its tag names the interface.
Object.defineProperty(FnHeaders.prototype, Symbol.iterator, { value: FnHeaders.prototype.entries, writable: true, configurable: true });
Object.defineProperty(FnHeaders.prototype, Symbol.toStringTag, { value: "Headers", configurable: true });
