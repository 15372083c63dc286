/**
 * @module runtime/bootstrap/web/response
 * The `Response` a function constructs (the global, installed by web/globals.ts): the Fetch
 * standard's Response for every body kind but FormData and async iterables, without node's
 * undici. It keeps what it was given (status, a Headers of ours, the body in its own form), so
 * the bootstrap writes `new Response("hi")` to the socket with a Content-Length and no web
 * stream. A body kind it does not handle gives a Response that wraps node's own and forwards
 * every call to it; a Response from fetch() is node's own; `instanceof Response` is true for
 * all three.
 *
 * As the standard has it (and @hono/node-server's light Response did not for a string body
 * with headers given): a body's implied Content-Type (text/plain;charset=UTF-8 for a string,
 * application/x-www-form-urlencoded;charset=UTF-8 for URLSearchParams, a Blob's type) is added
 * when the headers have none; status must be 200-599, a null-body status (101, 103, 204, 205,
 * 304) takes no body; statusText must be a reason phrase.
 */
import { Body, extract, type BodySource } from "./body.ts";
import { FnHeaders, type HeadersInitLike } from "./headers.ts";
import { isReal, real } from "./real.ts";

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const TEXT_PLAIN = "text/plain;charset=UTF-8";
/** node's way of showing objects, as it hands it to a custom inspector (no import of node:util at boot). */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
/** Makes a Response with nothing set, for the class's own factories. */
const BLANK = Symbol("fnrun.response.blank");

/** WebIDL `unsigned short`. */
function unsignedShort(v: unknown): number {
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  const t = Math.trunc(n) % 65536;
  return t < 0 ? t + 65536 : t;
}

function isReasonPhrase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!(c === 9 || (c >= 32 && c <= 126) || (c >= 128 && c <= 255))) return false;
  }
  return true;
}

interface ResponseInitLike {
  status?: unknown;
  statusText?: unknown;
  headers?: HeadersInitLike;
}

/** What the bootstrap writes of a light Response (undefined for one that wraps node's). */
export interface ResponseParts {
  status: number;
  statusText: string;
  headers: FnHeaders;
  body: Body | null;
  /** "error" for Response.error(): a network error, not an answer. */
  type: "default" | "error";
}

export let responseParts: (r: unknown) => ResponseParts | undefined;

export class FnResponse {
  /** node's own Response, when the body was a kind only it handles: every call goes to it. */
  #real: Response | null = null;
  #status = 200;
  #statusText = "";
  #headers!: FnHeaders;
  #body: Body | null = null;
  #type: "default" | "error" = "default";

  constructor(body: unknown = null, init?: ResponseInitLike) {
    if (body === BLANK) return;
    // The two kinds nearly every response has, without extract()'s object.
    if (typeof body === "string") this.#init(init, body, TEXT_PLAIN);
    else if (body === null) this.#init(init, null, null);
    else {
      const extracted = extract(body);
      if (extracted === undefined) this.#real = new (real().Response)(body as BodyInit, init as ResponseInit);
      else this.#init(init, extracted.source, extracted.type);
    }
  }

  /** Fetch's "initialize a response". */
  #init(init: ResponseInitLike | null | undefined, source: BodySource | null, type: string | null): void {
    if (init !== undefined && init !== null && typeof init !== "object") throw new TypeError("Response constructor: init must be an object");
    const status = init?.status === undefined ? 200 : unsignedShort(init.status);
    if (status < 200 || status > 599) throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive, got ${status}.`);
    const statusText = init?.statusText === undefined ? "" : String(init.statusText);
    if (!isReasonPhrase(statusText)) throw new TypeError(`Invalid statusText: ${JSON.stringify(statusText)}`);
    const headers = new FnHeaders(init?.headers);
    if (source !== null) {
      if (NULL_BODY_STATUS.has(status)) throw new TypeError(`Response constructor: Invalid response status code ${status}`);
      if (type !== null) FnHeaders.addDefault(headers, "content-type", type);
    }
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = headers;
    this.#body = source === null ? null : new Body(source);
  }

  static json(data: unknown, init?: ResponseInitLike): FnResponse {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Response.json: the value is not JSON serializable");
    const r = new FnResponse(BLANK);
    r.#init(init, text, "application/json");
    return r;
  }

  static redirect(url: string | URL, status = 302): FnResponse {
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch (err) {
      throw new TypeError(`Failed to parse URL from ${String(url)}`, { cause: err });
    }
    if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Invalid status code ${status}`);
    const r = new FnResponse(BLANK);
    r.#status = status;
    r.#headers = new FnHeaders([["location", parsed.href]]);
    FnHeaders.freeze(r.#headers);
    return r;
  }

  static error(): FnResponse {
    const r = new FnResponse(BLANK);
    r.#status = 0;
    r.#type = "error";
    r.#headers = new FnHeaders();
    FnHeaders.freeze(r.#headers);
    return r;
  }

  get type(): ResponseType {
    return this.#real ? this.#real.type : this.#type;
  }

  get url(): string {
    return this.#real ? this.#real.url : "";
  }

  get redirected(): boolean {
    return this.#real ? this.#real.redirected : false;
  }

  get status(): number {
    return this.#real ? this.#real.status : this.#status;
  }

  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }

  get statusText(): string {
    return this.#real ? this.#real.statusText : this.#statusText;
  }

  get headers(): Headers {
    return (this.#real ? this.#real.headers : this.#headers) as unknown as Headers;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#real ? this.#real.body : (this.#body?.stream ?? null);
  }

  get bodyUsed(): boolean {
    return this.#real ? this.#real.bodyUsed : (this.#body?.used ?? false);
  }

  clone(): FnResponse {
    if (this.#real) {
      const r = new FnResponse(BLANK);
      r.#real = this.#real.clone();
      return r;
    }
    if (this.#body?.used) throw new TypeError("Response.clone: Body has already been consumed.");
    const r = new FnResponse(BLANK);
    r.#status = this.#status;
    r.#statusText = this.#statusText;
    r.#type = this.#type;
    r.#headers = new FnHeaders(this.#headers as unknown as HeadersInitLike);
    // The guard of Response.error()'s and Response.redirect()'s headers carries over.
    if (FnHeaders.isFrozen(this.#headers)) FnHeaders.freeze(r.#headers);
    r.#body = this.#body && this.#body.clone();
    return r;
  }

  #empty(): Body {
    return this.#body ?? new Body(null);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#real ? this.#real.arrayBuffer() : this.#empty().arrayBuffer();
  }

  bytes(): Promise<Uint8Array> {
    return this.#real ? (this.#real as Response & { bytes(): Promise<Uint8Array> }).bytes() : this.#empty().bytes();
  }

  blob(): Promise<Blob> {
    return this.#real ? this.#real.blob() : this.#empty().blob(this.#headers.get("content-type") ?? "");
  }

  formData(): Promise<FormData> {
    return this.#real ? this.#real.formData() : this.#empty().formData(this.#headers.get("content-type"));
  }

  json(): Promise<unknown> {
    return this.#real ? this.#real.json() : this.#empty().json();
  }

  text(): Promise<string> {
    return this.#real ? this.#real.text() : this.#empty().text();
  }

  /** A Response of ours, or node's own (from fetch()). */
  static [Symbol.hasInstance](x: unknown): boolean {
    if (this !== FnResponse) return Function.prototype[Symbol.hasInstance].call(this, x);
    return (typeof x === "object" && x !== null && #real in x) || isReal("Response", x);
  }

  [INSPECT](depth: number, options: object, inspect: (v: unknown, o: object) => string): string {
    const shown = { status: this.status, statusText: this.statusText, headers: this.headers, body: (this.#real ? this.#real.body === null : this.#body === null) ? null : "ReadableStream", bodyUsed: this.bodyUsed, ok: this.ok, redirected: this.redirected, type: this.type, url: this.url };
    return `Response ${inspect(shown, { ...options, depth: depth < 0 ? null : depth - 1 })}`;
  }

  static {
    responseParts = (r) => {
      if (typeof r !== "object" || r === null || !(#real in r) || r.#real) return undefined;
      return { status: r.#status, statusText: r.#statusText, headers: r.#headers, body: r.#body, type: r.#type };
    };
  }
}
Object.defineProperty(FnResponse, "name", { value: "Response" });
Object.defineProperty(FnResponse.prototype, Symbol.toStringTag, { value: "Response", configurable: true });

