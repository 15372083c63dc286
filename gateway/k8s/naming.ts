/**
 * @module gateway/k8s/naming
 * Names, labels and image references of the exported objects. A function's objects are
 * named after it when its name is a DNS-1035 label (what a Service needs: starts with a
 * letter, ends with a letter or digit); fnrun also allows a leading digit or a trailing "-",
 * so such a name gets the prefix `fn-` (and `0` after a trailing "-").
 */
import { parseRegistryRef } from "../../builder/index.ts";

/** RFC 1035 label as Kubernetes checks Service names (IsDNS1035Label), at most 63 characters. */
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export const MANAGED_BY = { "app.kubernetes.io/managed-by": "fnrun" } as const;

/** What the pods of an object run: the HTTP server (selected by the Service) or a cron run (never selected). */
export type Component = "http" | "scheduled";

/** The Kubernetes name of function `fn`. */
export function objectName(fn: string): string {
  if (DNS1035.test(fn) && fn.length <= 63) return fn;
  return `fn-${fn}${fn.endsWith("-") ? "0" : ""}`;
}

/** Whether `name` may name a Service (and so every other object). */
export function isDns1035Label(name: string): boolean {
  return DNS1035.test(name) && name.length <= 63;
}

/** The Secret a function's secrets are read from. */
export function secretName(fn: string): string {
  return `${objectName(fn)}-secrets`;
}

/** Labels of every object and pod of `fn`. */
export function labels(fn: string, component: Component, revision?: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": objectName(fn),
    "app.kubernetes.io/component": component,
    ...MANAGED_BY,
    ...(revision ? { "fnrun.dev/revision": revision } : {}),
  };
}

/** What a Deployment's and Service's selector match: the HTTP pods of `fn`, never its cron runs. */
export function selector(fn: string): Record<string, string> {
  return { "app.kubernetes.io/name": objectName(fn), "app.kubernetes.io/component": "http" };
}

/**
 * `HOST[:PORT][/PREFIX]` as given to --registry, without a trailing "/"; throws (with the
 * reason) when `REGISTRY/NAME` would not be a registry reference.
 */
export function checkRegistry(registry: string): string {
  const trimmed = registry.replace(/\/+$/, "");
  const why = `--registry ${JSON.stringify(registry)}: expected HOST[:PORT]/PREFIX (lowercase path components, no tag or digest), like 127.0.0.1:5000/fnrun or ghcr.io/team/fns`;
  if (trimmed.includes("@")) throw new Error(why);
  try {
    // A registry host alone ("127.0.0.1:5000") gives repositories named after the functions.
    const parsed = parseRegistryRef(`${trimmed}/probe`);
    if (parsed.tag !== "latest" || parsed.digest || !parsed.repository.endsWith("probe")) throw new Error(why);
  } catch {
    throw new Error(why);
  }
  return trimmed;
}

/** `REGISTRY/NAME@sha256:…`: pinned by digest, so the cluster runs exactly the deployed bytes. */
export function imageRef(registry: string, fn: string, digest: string): string {
  return `${registry}/${fn}@${digest}`;
}
