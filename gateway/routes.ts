/**
 * @module gateway/routes
 * The route table: which function serves a method and path. Matching uses Hono's
 * RegExpRouter (the gateway keeps Hono for routing, off the proxy's hot path). A router
 * cannot take routes after its first match, so every change builds a new table.
 */
import { METHOD_NAME_ALL } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";

export interface RouteSpec {
  method: string; // "GET", ..., or "*"
  path: string;
}

/** Answers remembered per table: a busy gateway sees the same few targets again and again. */
const CACHE_ENTRIES = 1024;
/** Longer paths are matched every time: the cache must not become a place to store big keys. */
const CACHE_MAX_PATH = 256;

export class RouteTable {
  readonly #router = new RegExpRouter<string>();
  readonly #byFunction: ReadonlyMap<string, readonly RouteSpec[]>;
  /**
   * `METHOD path` → function (or null): a Map hit costs a fraction of the router's match (its
   * regex and result arrays). A table never changes, so an answer stays right; when full it is
   * emptied, which keeps it bounded whatever paths clients send.
   */
  readonly #cache = new Map<string, string | null>();

  constructor(routes: ReadonlyMap<string, readonly RouteSpec[]>) {
    this.#byFunction = routes;
    for (const [name, specs] of routes) {
      for (const r of specs) this.#router.add(r.method === "*" ? METHOD_NAME_ALL : r.method.toUpperCase(), r.path, name);
    }
  }

  /** The function serving `method path`, or null. The first route added wins; HEAD falls back to GET (RFC 9110 §9.3.2). */
  match(method: string, path: string): string | null {
    if (path.length > CACHE_MAX_PATH) return this.#match(method, path);
    const key = `${method} ${path}`;
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const found = this.#match(method, path);
    if (this.#cache.size >= CACHE_ENTRIES) this.#cache.clear();
    this.#cache.set(key, found);
    return found;
  }

  #match(method: string, path: string): string | null {
    const found = this.#first(method, path);
    return found ?? (method === "HEAD" ? this.#first("GET", path) : null);
  }

  #first(method: string, path: string): string | null {
    const [handlers] = this.#router.match(method, path) as [Array<[string, unknown]>, unknown];
    return handlers.length > 0 ? handlers[0][0] : null;
  }

  /** A new table with `name`'s routes replaced (or removed, when routes is null). */
  with(name: string, routes: readonly RouteSpec[] | null): RouteTable {
    const next = new Map(this.#byFunction);
    if (routes) next.set(name, routes);
    else next.delete(name);
    return new RouteTable(next);
  }

  routesOf(name: string): readonly RouteSpec[] {
    return this.#byFunction.get(name) ?? [];
  }
}

/** The routes a function gets when config.toml names none: `/<name>` and everything below it. */
export function defaultRoutes(name: string): RouteSpec[] {
  return [
    { method: "*", path: `/${name}` },
    { method: "*", path: `/${name}/*` },
  ];
}
