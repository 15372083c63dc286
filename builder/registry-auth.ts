/**
 * @module builder/registry-auth
 * Registry authentication as the distribution spec's token flow describes it
 * (distribution docs/spec/auth/token.md): a request answered 401 carries
 * `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`; the client asks the realm for a
 * token for that service and scope (with its basic credentials, if any) and retries with
 * `Authorization: Bearer <token>`. A `Basic` challenge (htpasswd registries) is answered with
 * the credentials themselves.
 */
import { request, type Dispatcher } from "undici";
import { RegistryError } from "./errors.ts";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one WWW-Authenticate challenge (RFC 7235 §4.1: scheme, then auth-params). */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]))) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/**
 * Turns a challenge into an Authorization header value. `scope` is the one the client needs
 * (`repository:team/hello:pull,push`); a challenge's own scope is merged in.
 */
export async function authorize(
  challenge: Challenge,
  opts: { registry: string; scope: string; credentials?: RegistryCredentials; dispatcher: Dispatcher },
): Promise<string> {
  const { credentials } = opts;
  if (challenge.scheme === "basic") {
    if (!credentials) throw loginNeeded(opts.registry, "basic");
    return basic(credentials);
  }
  if (challenge.scheme !== "bearer") {
    throw new RegistryError("FNRUN_REGISTRY_UNSUPPORTED", `authenticate to \`${opts.registry}\`: unsupported scheme \`${challenge.scheme}\` (fnrun speaks Basic and Bearer)`);
  }
  const realm = challenge.params.realm;
  if (!realm) throw new RegistryError("FNRUN_REGISTRY_FAILED", `authenticate to \`${opts.registry}\`: Bearer challenge without a realm`);
  const url = new URL(realm);
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  const scopes = mergeScopes([opts.scope, ...(challenge.params.scope ? challenge.params.scope.split(" ") : [])]);
  for (const s of scopes) url.searchParams.append("scope", s);
  const res = await request(url, {
    method: "GET",
    headers: credentials ? { authorization: basic(credentials) } : {},
    dispatcher: opts.dispatcher,
  }).catch((err: Error) => {
    throw new RegistryError("FNRUN_REGISTRY_FAILED", `get a token from \`${url.origin}${url.pathname}\`: ${err.message}`, { cause: err });
  });
  const text = await res.body.text();
  if (res.statusCode === 401 || res.statusCode === 403) {
    throw new RegistryError("FNRUN_REGISTRY_AUTH", `get a token from \`${url.origin}${url.pathname}\` for \`${[...scopes].join(" ")}\`: ${res.statusCode}${credentials ? "; check --username and the password" : "; the registry needs a login: pass --username and --password-stdin"}`, { status: res.statusCode });
  }
  if (res.statusCode !== 200) {
    throw new RegistryError("FNRUN_REGISTRY_FAILED", `get a token from \`${url.origin}${url.pathname}\`: ${res.statusCode} ${text.slice(0, 200)}`, { status: res.statusCode });
  }
  let token: unknown;
  try {
    const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
    token = body.token ?? body.access_token;
  } catch {
    token = undefined;
  }
  if (typeof token !== "string" || !token) throw new RegistryError("FNRUN_REGISTRY_FAILED", `get a token from \`${url.origin}${url.pathname}\`: the answer has no token`);
  return `Bearer ${token}`;
}

/** `repository:a:pull` + `repository:a:pull,push` → `repository:a:pull,push` (one scope per resource). */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes.filter(Boolean)) {
    const i = scope.lastIndexOf(":");
    const resource = scope.slice(0, i);
    const actions = byResource.get(resource) ?? new Set<string>();
    for (const a of scope.slice(i + 1).split(",")) if (a) actions.add(a);
    byResource.set(resource, actions);
  }
  return [...byResource].map(([resource, actions]) => `${resource}:${[...actions].join(",")}`);
}

function basic(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

export function loginNeeded(registry: string, scheme: string): RegistryError {
  return new RegistryError("FNRUN_REGISTRY_AUTH", `\`${registry}\` asks for a login (${scheme}); pass --username and --password-stdin`, { status: 401 });
}
