/**
 * @module gateway/k8s/paths
 * fnrun route paths ("/hello", "/users/:id", "/files/*") in the terms Ingress and HTTPRoute
 * match on. fnrun's "/x/*" matches "/x", "/x/" and everything below (Hono's wildcard), which
 * is exactly Kubernetes' element-wise Prefix "/x"; a ":param" matches one non-empty segment.
 */

export type PathKind = "exact" | "prefix" | "pattern";

/** How a route path can be matched: `exact` and `prefix` carry `value`; `pattern` has params. */
export interface PathMatch {
  kind: PathKind;
  /** The literal path (exact), the prefix (prefix), or the static part before the first param (pattern). */
  value: string;
  /** An RE2 regular expression matching exactly what fnrun matches (every kind). */
  regex: string;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

export function analyzePath(path: string): PathMatch {
  if (path === "/") return { kind: "exact", value: "/", regex: "^/$" };
  const segments = path.slice(1).split("/");
  const wildcard = segments.at(-1) === "*";
  const fixed = wildcard ? segments.slice(0, -1) : segments;
  const firstParam = fixed.findIndex((s) => s.startsWith(":"));
  const staticPart = "/" + (firstParam < 0 ? fixed : fixed.slice(0, firstParam)).join("/");
  const body = fixed.map((s) => (s.startsWith(":") ? "/[^/]+" : `/${s.replace(REGEX_SPECIAL, "\\$&")}`)).join("");
  const regex = `^${body}${wildcard ? "(/.*)?" : ""}$`.replace(/^\^\(\/\.\*\)\?\$$/, "^/.*$");
  if (firstParam >= 0) return { kind: "pattern", value: staticPart, regex };
  return { kind: wildcard ? "prefix" : "exact", value: staticPart, regex };
}
