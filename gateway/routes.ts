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

export class RouteTable {
  readonly #router = new RegExpRouter<string>();
  readonly #byFunction: ReadonlyMap<string, readonly RouteSpec[]>;

  constructor(routes: ReadonlyMap<string, readonly RouteSpec[]>) {
    this.#byFunction = routes;
    for (const [name, specs] of routes) {
      for (const r of specs) this.#router.add(r.method === "*" ? METHOD_NAME_ALL : r.method.toUpperCase(), r.path, name);
    }
  }

  /** The function serving `method path`, or null. The first route added wins; HEAD falls back to GET (RFC 9110 §9.3.2). */
  match(method: string, path: string): string | null {
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
