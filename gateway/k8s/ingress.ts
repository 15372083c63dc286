/**
 * @module gateway/k8s/ingress
 * fnrun's routes as one Ingress (networking.k8s.io/v1) in front of the functions' Services.
 * An Ingress matches paths only, so what it cannot say is widened, never narrowed: a static
 * path is Exact, "/x/*" is Prefix "/x", and a path with ":param" segments is Prefix of its
 * static part ("/users/:id/posts" → "/users"); methods are not matched at all (the function
 * answers what it does not serve). Two functions that end up on one Ingress path are an error
 * that names them and points to `--routes httproute`, which can say methods and params.
 */
import type { IIngress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import type { FunctionConfig } from "../config.ts";
import { MANAGED_BY, objectName } from "./naming.ts";
import { analyzePath } from "./paths.ts";
import { SERVICE_PORT } from "./service.ts";

export interface IngressOptions {
  namespace?: string;
  hostname?: string;
  ingressClass?: string;
}

export const INGRESS_NAME = "fnrun";

export interface IngressPath {
  path: string;
  pathType: "Exact" | "Prefix";
}

/** The Ingress paths of one function's routes, in route order, without duplicates. */
export function ingressPaths(routes: FunctionConfig["routes"]): IngressPath[] {
  const out = new Map<string, IngressPath>();
  for (const r of routes) {
    const m = analyzePath(r.path);
    const p: IngressPath = { path: m.value, pathType: m.kind === "exact" ? "Exact" : "Prefix" };
    out.set(`${p.pathType} ${p.path}`, p);
  }
  return [...out.values()];
}

/** The Ingress of every function with routes (null when none has any), and the clashes found. */
export function ingress(functions: FunctionConfig[], opts: IngressOptions): { object: IIngress | null; problems: string[] } {
  const owner = new Map<string, string>();
  const problems: string[] = [];
  const paths: NonNullable<NonNullable<IIngress["spec"]>["rules"]>[number]["http"] = { paths: [] };
  for (const fn of functions) {
    for (const p of ingressPaths(fn.routes)) {
      const key = `${p.pathType} ${p.path}`;
      const other = owner.get(key);
      if (other) {
        problems.push(`functions ${other} and ${fn.name} both map to the Ingress path ${p.pathType} ${p.path} (an Ingress matches neither methods nor ":param" segments); use --routes httproute, or give them distinct static paths`);
        continue;
      }
      owner.set(key, fn.name);
      paths.paths.push({ path: p.path, pathType: p.pathType, backend: { service: { name: objectName(fn.name), port: { number: SERVICE_PORT } } } });
    }
  }
  if (paths.paths.length === 0) return { object: null, problems };
  const object: IIngress = {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: INGRESS_NAME, ...(opts.namespace ? { namespace: opts.namespace } : {}), labels: { ...MANAGED_BY } },
    spec: {
      ...(opts.ingressClass ? { ingressClassName: opts.ingressClass } : {}),
      rules: [{ ...(opts.hostname ? { host: opts.hostname } : {}), http: paths }],
    },
  };
  return { object, problems };
}
