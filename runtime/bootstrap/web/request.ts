/**
 * @module runtime/bootstrap/web/request
 * The `Request` a function receives (the global, installed by web/globals.ts): made from
 * node's request for each invocation without node's undici. Method and url are plain fields;
 * the Headers of ours are made from node's raw headers when first read; the body (null for
 * GET and HEAD) stays node's request until read: text()/json()/arrayBuffer() read it
 * directly, `.body` makes a ReadableStream that pulls from it with backpressure. `signal`
 * aborts when the client goes away before the answer is complete (made on first use).
 *
 * A Request the function constructs itself wraps node's own and forwards every call to it;
 * fetch(request) and `new Request(request)` turn a light one into node's own first
 * (web/globals.ts). `instanceof Request` is true for all of them.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Body } from "./body.ts";
import { FnHeaders } from "./headers.ts";
import { isReal, real } from "./real.ts";

/** node's way of showing objects, as it hands it to a custom inspector (no import of node:util at boot). */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");
/** Makes a Request with nothing set, for fromIncoming and clone. */
const BLANK = Symbol("fnrun.request.blank");

export class FnRequest {
  /** node's own Request, for one the function constructed: every call goes to it. */
  #real: Request | null = null;
  #method = "GET";
  #url = "";
  /** node's raw request headers, until `headers` is first read. */
  #raw: string[] | null = null;
  #headers: FnHeaders | null = null;
  #body: Body | null = null;
  /** The response of this request: its premature close aborts `signal`. */
  #res: ServerResponse | null = null;
  #signal: AbortSignal | null = null;

  constructor(input: unknown, init?: RequestInit) {
    if (input === BLANK) return;
    this.#real = new (real().Request)(FnRequest.toReal(input) as RequestInfo, init);
  }

  /** The Request for one invocation: `url` is the absolute URL the bootstrap made of node's target and Host. */
  static fromIncoming(req: IncomingMessage, res: ServerResponse, url: string): FnRequest {
    const r = new FnRequest(BLANK);
    r.#method = req.method ?? "GET";
    r.#url = url;
    r.#raw = req.rawHeaders;
    r.#res = res;
    if (r.#method !== "GET" && r.#method !== "HEAD") r.#body = new Body(req);
    return r;
  }

  /** `input` as node's fetch() and Request constructor take it: a Request of ours becomes node's own (its body moves over). */
  static toReal(input: unknown): unknown {
    if (typeof input !== "object" || input === null || !(#real in input)) return input;
    if (input.#real) return input.#real;
    if (input.#body?.used) throw new TypeError("Cannot construct a Request with a Request object that has already been used.");
    const init: RequestInit & { duplex?: "half" } = { method: input.#method, headers: input.headers, signal: input.signal };
    if (input.#body) {
      init.body = input.#body.stream;
      init.duplex = "half";
    }
    return new (real().Request)(input.#url, init);
  }

  get method(): string {
    return this.#real ? this.#real.method : this.#method;
  }

  get url(): string {
    return this.#real ? this.#real.url : this.#url;
  }

  get headers(): Headers {
    if (this.#real) return this.#real.headers;
    return (this.#headers ??= FnHeaders.fromRaw(this.#raw ?? [])) as unknown as Headers;
  }

  get signal(): AbortSignal {
    if (this.#real) return this.#real.signal;
    if (this.#signal) return this.#signal;
    const ac = new AbortController();
    const res = this.#res;
    if (res) {
      const onClose = () => {
        if (!res.writableFinished) ac.abort();
      };
      if (res.closed) onClose();
      else res.once("close", onClose);
    }
    return (this.#signal = ac.signal);
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#real ? this.#real.body : (this.#body?.stream ?? null);
  }

  get bodyUsed(): boolean {
    return this.#real ? this.#real.bodyUsed : (this.#body?.used ?? false);
  }

  // What node's Request reports for a request made with (url, { method, headers, body }).
  get destination(): RequestDestination { return this.#real ? this.#real.destination : ""; }
  get referrer(): string { return this.#real ? this.#real.referrer : "about:client"; }
  get referrerPolicy(): ReferrerPolicy { return this.#real ? this.#real.referrerPolicy : ""; }
  get mode(): RequestMode { return this.#real ? this.#real.mode : "cors"; }
  get credentials(): RequestCredentials { return this.#real ? this.#real.credentials : "same-origin"; }
  get cache(): RequestCache { return this.#real ? this.#real.cache : "default"; }
  get redirect(): RequestRedirect { return this.#real ? this.#real.redirect : "follow"; }
  get integrity(): string { return this.#real ? this.#real.integrity : ""; }
  get keepalive(): boolean { return this.#real ? this.#real.keepalive : false; }
  get isReloadNavigation(): boolean { return this.#real ? (this.#real as Request & { isReloadNavigation: boolean }).isReloadNavigation : false; }
  get isHistoryNavigation(): boolean { return this.#real ? (this.#real as Request & { isHistoryNavigation: boolean }).isHistoryNavigation : false; }
  get duplex(): "half" { return "half"; }

  clone(): FnRequest {
    const r = new FnRequest(BLANK);
    if (this.#real) {
      r.#real = this.#real.clone();
      return r;
    }
    if (this.#body?.used) throw new TypeError("Request.clone: Body has already been consumed.");
    r.#method = this.#method;
    r.#url = this.#url;
    r.#headers = new FnHeaders(this.headers as unknown as FnHeaders);
    r.#res = this.#res; // the clone's signal follows the same connection
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
    return this.#real ? (this.#real as Request & { bytes(): Promise<Uint8Array> }).bytes() : this.#empty().bytes();
  }

  blob(): Promise<Blob> {
    return this.#real ? this.#real.blob() : this.#empty().blob(this.headers.get("content-type") ?? "");
  }

  formData(): Promise<FormData> {
    return this.#real ? this.#real.formData() : this.#empty().formData(this.headers.get("content-type"));
  }

  json(): Promise<unknown> {
    return this.#real ? this.#real.json() : this.#empty().json();
  }

  text(): Promise<string> {
    return this.#real ? this.#real.text() : this.#empty().text();
  }

  /** A Request of ours, or node's own. */
  static [Symbol.hasInstance](x: unknown): boolean {
    if (this !== FnRequest) return Function.prototype[Symbol.hasInstance].call(this, x);
    return (typeof x === "object" && x !== null && #real in x) || isReal("Request", x);
  }

  [INSPECT](depth: number, options: object, inspect: (v: unknown, o: object) => string): string {
    const shown = { method: this.method, url: this.url, headers: this.headers, body: (this.#real ? this.#real.body === null : this.#body === null) ? null : "ReadableStream", bodyUsed: this.bodyUsed };
    return `Request ${inspect(shown, { ...options, depth: depth < 0 ? null : depth - 1 })}`;
  }
}
Object.defineProperty(FnRequest, "name", { value: "Request" });
Object.defineProperty(FnRequest.prototype, Symbol.toStringTag, { value: "Request", configurable: true });
