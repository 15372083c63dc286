/**
 * @module runtime/bootstrap/header-names
 * Header names compared to their lower-case form by char code, without lower-casing them (a new
 * string for every header of every request). Shared by the gateway's proxy and the bootstrap.
 */

/**
 * Whether the header name `name` begins with `lower` in any case. `lower` is lower case: letters,
 * digits and "-". Setting bit 5 folds A-Z onto a-z and leaves "-" and the digits as they are; of
 * the token characters a header name may hold (node and undici refuse any other), none else
 * folds onto those.
 */
export function startsAs(name: string, lower: string): boolean {
  if (name.length < lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 32) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Whether the header name `name` is `lower` in any case (see startsAs). */
export function namedAs(name: string, lower: string): boolean {
  return name.length === lower.length && startsAs(name, lower);
}
