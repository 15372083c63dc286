/**
 * @module gateway/k8s/httproute
 * A function's routes as a Gateway API HTTPRoute (gateway.networking.k8s.io/v1), which says
 * what an Ingress cannot: methods, and ":param" segments as a RegularExpression path (RE2,
 * anchored, one segment per param). Static paths are Exact, "/x/*" is PathPrefix "/x". A GET
 * route also matches HEAD, as fnrun's router falls back from HEAD to GET (RFC 9110 §9.3.2),
 * unless some function has a HEAD route of its own on that path. RegularExpression support is
 * "implementation-specific" in the Gateway API: Envoy Gateway, Istio and others have it.
 */
import type { IHTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import type { FunctionConfig } from "../config.ts";
import { labels, objectName } from "./naming.ts";
import { analyzePath } from "./paths.ts";
import { SERVICE_PORT } from "./service.ts";

type Rule = NonNullable<NonNullable<IHTTPRoute["spec"]>["rules"]>[number];
type Match = NonNullable<Rule["matches"]>[number];
type Method = NonNullable<Match["method"]>;

export interface HttpRouteOptions {
  namespace?: string;
  hostname?: string;
  /** The Gateway the routes attach to. */
  gateway: { name: string; namespace?: string };
  /** Paths on which some function has an explicit HEAD route. */
  headPaths: ReadonlySet<string>;
}

/** The Gateway API's limits: 64 matches a rule, 16 rules a route. */
const MATCHES_PER_RULE = 64;
const RULES_PER_ROUTE = 16;

export function httpRouteMatches(routes: FunctionConfig["routes"], headPaths: ReadonlySet<string>): Match[] {
  const out: Match[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const m = analyzePath(r.path);
    const path: Match["path"] = m.kind === "exact" ? { type: "Exact", value: m.value } : m.kind === "prefix" ? { type: "PathPrefix", value: m.value } : { type: "RegularExpression", value: m.regex };
    const methods: Array<Method | undefined> = r.method === "*" ? [undefined] : [r.method as Method];
    if (r.method === "GET" && !headPaths.has(r.path)) methods.push("HEAD");
    for (const method of methods) {
      const key = `${method ?? "*"} ${path.type} ${path.value}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ path, ...(method ? { method } : {}) });
    }
  }
  return out;
}

/** The HTTPRoute of one function (null when it has no routes), or a problem when it has too many. */
export function httpRoute(fn: FunctionConfig, opts: HttpRouteOptions): { object: IHTTPRoute | null; problems: string[] } {
  const matches = httpRouteMatches(fn.routes, opts.headPaths);
  if (matches.length === 0) return { object: null, problems: [] };
  if (matches.length > MATCHES_PER_RULE * RULES_PER_ROUTE) {
    return { object: null, problems: [`function ${fn.name}: ${matches.length} route matches are more than one HTTPRoute holds (${MATCHES_PER_RULE * RULES_PER_ROUTE}); use fewer routes or "/x/*" wildcards`] };
  }
  const rules: Rule[] = [];
  for (let i = 0; i < matches.length; i += MATCHES_PER_RULE) {
    rules.push({ matches: matches.slice(i, i + MATCHES_PER_RULE), backendRefs: [{ name: objectName(fn.name), port: SERVICE_PORT }] });
  }
  const object: IHTTPRoute = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: objectName(fn.name), ...(opts.namespace ? { namespace: opts.namespace } : {}), labels: labels(fn.name, "http") },
    spec: {
      parentRefs: [{ name: opts.gateway.name, ...(opts.gateway.namespace ? { namespace: opts.gateway.namespace } : {}) }],
      ...(opts.hostname ? { hostnames: [opts.hostname] } : {}),
      rules,
    },
  };
  return { object, problems: [] };
}
