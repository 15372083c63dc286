/**
 * @module gateway/units
 * Sizes ("128MiB") and durations ("1m30s") as config.toml writes them, parsed to bytes and
 * milliseconds, and formatted back for messages.
 *
 * Sizes: a plain whole number is bytes. Suffixes are case-insensitive: B; KB, MB, GB, TB are
 * powers of 1000 (SI, as in Kubernetes' "M"); KiB, MiB, GiB, TiB (or Ki, Mi, Gi, Ti) are
 * powers of 1024 (IEC). Single letters (K, M, G) are rejected: Docker reads `-m 128m` as
 * MiB while Kubernetes reads `128M` as 10^6 bytes, so they are ambiguous.
 *
 * Durations: a string with units ms, s, m, h, d, which may be combined ("1m30s", "1h30m").
 * A plain number (TOML `timeout = 30`) is SECONDS, because that is what a person writing a
 * timeout means; fractions are fine (0.25 = 250ms). A unitless string ("30") is rejected.
 */

/** Thrown by parseSize/parseDuration; the message reads after a key: `memory: <message>`. */
export class UnitError extends Error {
  override name = "UnitError";
  readonly code = "FNRUN_UNIT_INVALID";
  readonly kind = "user";
}

const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Bytes of a size like "128MiB", "64MB" (64×10^6), "512KiB", "1.5GiB" or a whole number of bytes. */
export function parseSize(v: string | number): number {
  const fail = () => new UnitError(`expected a size like "128MiB", got ${describe(v)}`);
  let bytes: number;
  if (typeof v === "number") {
    bytes = v;
  } else if (typeof v === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
    const mult = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
    if (!m || mult === undefined) throw fail();
    bytes = Number(m[1]) * mult;
    // "1.5GiB" is whole bytes; float error may leave a tiny remainder ("0.1KB" → 100.00000000000001).
    if (Math.abs(bytes - Math.round(bytes)) < 1e-6) bytes = Math.round(bytes);
  } else {
    throw fail();
  }
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw fail();
  return bytes;
}

/** Milliseconds of a duration like "30s", "150ms", "5m", "1h", "1m30s"; a number is seconds. */
export function parseDuration(v: string | number): number {
  const fail = () => new UnitError(`expected a duration like "30s", got ${describe(v)}`);
  let ms = 0;
  if (typeof v === "number") {
    ms = v * 1000;
  } else if (typeof v === "string") {
    const s = v.trim();
    const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
    let at = 0;
    while (at < s.length) {
      part.lastIndex = at;
      const m = part.exec(s);
      if (!m) throw fail();
      ms += Number(m[1]) * DURATION_UNITS[m[2]];
      at = part.lastIndex;
    }
    if (s.length === 0) throw fail();
  } else {
    throw fail();
  }
  ms = Math.round(ms);
  if (!Number.isSafeInteger(ms) || ms < 0) throw fail();
  return ms;
}

/** "128MiB", "64MB", "1001B": the largest unit that divides the size exactly. */
export function formatSize(bytes: number): string {
  const units: Array<[string, number]> = [
    ["TiB", 2 ** 40], ["TB", 1e12], ["GiB", 2 ** 30], ["GB", 1e9],
    ["MiB", 2 ** 20], ["MB", 1e6], ["KiB", 2 ** 10], ["KB", 1e3],
  ];
  if (bytes > 0) for (const [name, n] of units) if (bytes % n === 0) return `${bytes / n}${name}`;
  return `${bytes}B`;
}

/** "1h30m", "1m30s", "150ms", "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let out = "";
  let rest = ms;
  for (const [name, n] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    if (rest >= n) {
      out += `${Math.floor(rest / n)}${name}`;
      rest %= n;
    }
  }
  return out;
}

/** How a config value reads in "got …": strings quoted, numbers as is, tables and arrays named. */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date || (v !== null && typeof v === "object" && "toISOString" in v)) return `a date (${String(v)})`;
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}
