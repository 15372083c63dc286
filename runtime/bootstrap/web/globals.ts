/**
 * @module runtime/bootstrap/web/globals
 * Puts the light fetch classes where a function looks for them: globalThis.Request, Response
 * and Headers become this folder's classes, and fetch() turns a light Request into node's own
 * before handing it to node's fetch (which takes nothing else). Done once, before the
 * function's bundle is imported, so its module code and its handlers see the same classes.
 * node's own are loaded only when something needs them (web/real.ts).
 *
 * What differs from node's own, knowingly: a light Response or Request is not accepted where
 * node checks for its own class internally (WebAssembly.compileStreaming takes node's Response
 * only: `new Response(bytes)` there must come from fetch()); `.body` of a request is a default
 * ReadableStream (as it was with @hono/node-server), not a byte stream, so it has no BYOB reader.
 */
import { FnHeaders } from "./headers.ts";
import { nodeFetch, real, rememberInstalled } from "./real.ts";
import { FnRequest } from "./request.ts";
import { FnResponse } from "./response.ts";

let done = false;

export function installWebGlobals(): void {
  if (done) return;
  done = true;
  const ours = { Request: FnRequest, Response: FnResponse, Headers: FnHeaders };
  rememberInstalled(ours);
  // As node defines them: writable, configurable, not enumerable.
  for (const [name, value] of Object.entries(ours)) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  const fetch = function fetch(input: unknown, init?: RequestInit): Promise<Response> {
    return nodeFetch(FnRequest.toReal(input) as RequestInfo, init);
  };
  Object.defineProperty(globalThis, "fetch", { value: fetch, writable: true, configurable: true, enumerable: true });
}

/**
 * Loads node's own fetch classes and runs them once (about 50 ms of CPU), so that a function
 * that uses fetch(), FormData or a Request of its own does not pay for it on its first
 * request. Only for a stem cell, which has time while it waits; a cold start does not load
 * them unless its function needs them.
 */
export function warmNodeFetchClasses(): void {
  const r = real();
  void new r.Response(new r.Request("http://warm/", { method: "POST", body: "x", headers: new r.Headers({ a: "b" }) }).body).text();
}
