/**
 * @module builder/registry-ref
 * Registry references (`host[:port]/repo/name[:tag][@sha256:…]`), parsed the way docker's
 * reference grammar reads them (distribution/reference): the first component is the registry
 * host when it has a `.` or `:` or is `localhost`. fnrun has no default registry: a reference
 * always names its host, so `fnrun pull` never guesses where an image comes from.
 */
import { RegistryError } from "./errors.ts";

export interface RegistryRef {
  /** `host` or `host:port`. */
  registry: string;
  /** The repository path: `team/hello`. */
  repository: string;
  /** The tag, when given (default `latest` unless a digest is). */
  tag?: string;
  /** `sha256:…`, when given. */
  digest?: string;
}

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HOST_RE = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;

/** Whether `text` names a registry image (its first component is a host) rather than a store tag. */
export function isRegistryRef(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash <= 0) return false;
  const first = text.slice(0, slash);
  return first === "localhost" || first.includes(".") || first.includes(":") || first.startsWith("[");
}

export function parseRegistryRef(text: string): RegistryRef {
  const bad = (why: string) =>
    new RegistryError("FNRUN_REGISTRY_REF_INVALID", `image reference \`${text}\`: ${why}; expected HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], like 127.0.0.1:5000/team/hello:v1`);
  if (!isRegistryRef(text)) throw bad("no registry host (the first component needs a `.` or `:`, or is localhost)");
  const slash = text.indexOf("/");
  const registry = text.slice(0, slash);
  let rest = text.slice(slash + 1);
  if (!HOST_RE.test(registry)) throw bad(`\`${registry}\` is not a host[:port]`);
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw bad(`\`${digest}\` is not a sha256 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`\`${tag}\` is not a tag (letters, digits, _ . -, at most 128)`);
  }
  if (!REPOSITORY_RE.test(rest)) throw bad(`\`${rest}\` is not a repository (lowercase components separated by /)`);
  return { registry, repository: rest, tag: tag ?? (digest ? undefined : "latest"), digest };
}

/** `host/repo:tag`, `host/repo@digest` or both: the canonical text, also the store tag of a pulled image. */
export function formatRegistryRef(ref: RegistryRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function manifestReference(ref: RegistryRef): string {
  return ref.digest ?? ref.tag ?? "latest";
}

/** Loopback hosts: the only ones `--insecure` (plain HTTP) is allowed for. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(1, registry.indexOf("]")) : registry.replace(/:\d+$/, "");
  return host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1";
}
