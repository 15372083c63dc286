/**
 * @module gateway/config
 * config.toml: parsed with smol-toml, validated, normalized (raw config has every key
 * optional; FnrunConfig has none), like wrangler's diagnostics. Every problem in the file is
 * collected and reported at once; unknown keys are warnings, not errors.
 *
 * ## Keys
 *
 * Sizes: "128MiB", "1GiB", "512KiB" (powers of 1024), "64MB", "1GB" (powers of 1000), or a
 * whole number of bytes. Durations: "150ms", "30s", "5m", "1h", "1m30s", or a number of
 * SECONDS. Relative paths are relative to the folder of config.toml.
 *
 * [gateway]
 *   listen        = "127.0.0.1:8080"  host:port the HTTP gateway listens on ("[::1]:8080" for
 *                                     IPv6; port 0 picks a free port)
 *   max_body      = "6MiB"            largest request body accepted (size, ≥ 0)
 *   workers       = N                 processes serving the public listener (1..64); default
 *                                     defaultWorkers(): half the cores, 1 to 8
 * [daemon]
 *   state_dir     = ".fnrun"          images, runc state, instance bundles, logs, sockets
 * [control]                          the control API socket is always <state_dir>/fnrun.sock,
 *                                     mode 0600, no token
 *   listen        = "10.0.0.5:7070"   also serve the control API (and /metrics) on TCP, remote CLI
 *                                     (`--host`); requires token_file; unset: unix socket only
 *   token_file    = "control.token"   file holding the bearer token for listen (whitespace trimmed,
 *                                     at least 16 characters; keep it mode 0600)
 * [build]
 *   engine        = "embedded"        who applies the generated Dockerfile: "embedded" (no daemon,
 *                                     no RUN), "buildah" or "docker" (the tool builds, fnrun imports)
 * [pool]
 *   stem_cells    = 2                 generic prewarmed containers, specialized on demand (≥ 0)
 *   memory_budget = "2GiB"            warm instances beyond it are evicted, least recently used first
 *   idle_timeout  = "5m"              a warm instance idle this long is stopped (> 0)
 * [defaults]                         limits every function gets unless it sets its own
 *   memory        = "128MiB"          memory limit per instance (≥ 16MiB: node needs it)
 *   cpu           = 0.5               share of one core per instance (0.01 to 64)
 *   timeout       = "30s"             longest a request may run (> 0)
 *   concurrency   = 16                requests in flight per instance (≥ 1)
 *   min_instances = 0                 instances kept warm even when idle (≥ 0)
 *   max_instances = 10                most instances at once (≥ 1 and ≥ min_instances)
 *   max_queue     = 100               requests that may wait for a busy function; past it: 429 (≥ 0)
 *   pids          = 64                process/thread limit per instance (≥ 8)
 *   tmp           = "16MiB"           size of the instance's tmpfs /tmp (≥ 1MiB)
 * [functions.NAME]                   NAME: lowercase letters, digits, "-"; starts with a letter
 *                                     or digit; at most 40 characters
 *   dir           = "functions/NAME"  REQUIRED: the function's folder
 *   routes        = ["GET /hello", "/hello/:name", "POST /hello/*"]
 *                                     "METHOD /path" or "/path" (any method). METHOD: GET HEAD
 *                                     POST PUT PATCH DELETE OPTIONS. Segments: literal, ":param",
 *                                     or "*" as the last one. No ".", "..", "%", "?", "#", empty
 *                                     segments. Default: ["/NAME", "/NAME/*"]. Two functions may
 *                                     not share a route (same method, or any method, and path).
 *   memory, cpu, timeout, concurrency, min_instances, max_instances, max_queue, pids, tmp
 *                                     as in [defaults], for this function only
 *   env           = { KEY = "value" } passed at container start, never baked into the image;
 *                                     values must be strings; keys [A-Za-z_][A-Za-z0-9_]*, not FNRUN_*
 *   base          = "REF"             build FROM this image (e.g. a Node image from a registry) instead
 *                                     of fnrun's base; needs node on its PATH; full cold starts
 *   schedule      = "0 3 * * *"       cron expression (5 fields, or @hourly @daily @weekly @monthly
 *                                     @yearly): runs the function's scheduled() handler; one that
 *                                     never fires ("0 0 30 2 *") is an error (gateway/schedule.ts)
 *   timezone      = "Europe/Berlin"   IANA time zone of schedule (default: the host's)
 *   overlap       = "forbid"          "forbid": a run due while the last one runs is skipped; "allow"
 */
import { readFile, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { checkSchedule, type OverlapPolicy } from "./schedule.ts";
import { describe, formatSize, parseDuration, parseSize } from "./units.ts";

export { parseDuration, parseSize } from "./units.ts";

export interface Route {
  method: string; // one of ROUTE_METHODS, or "*" for any method
  path: string;
}

/** The resource limits of one function; [defaults] holds the same fields. */
export interface FunctionLimits {
  memoryBytes: number;
  cpu: number;
  timeoutMs: number;
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  /** Requests that may wait when every instance is busy; past it the gateway answers 429. */
  maxQueue: number;
  pids: number;
  tmpBytes: number;
}

export interface FunctionConfig extends FunctionLimits {
  name: string;
  dir: string; // absolute
  routes: Route[];
  env: Record<string, string>;
  schedule?: string;
  /** `base = "REF"`: the image to build FROM instead of fnrun's host-derived base. */
  base?: string;
  timezone?: string;
  overlap?: OverlapPolicy;
}

export interface FnrunConfig {
  path: string | null;
  root: string;
  gateway: { listen: { host: string; port: number }; maxBodyBytes: number; workers: number };
  daemon: { stateDir: string };
  control: { socket: string; listen?: { host: string; port: number }; tokenFile?: string };
  build: { engine: "embedded" | "buildah" | "docker" };
  pool: { stemCells: number; memoryBudgetBytes: number; idleTimeoutMs: number };
  defaults: FunctionLimits;
  functions: Map<string, FunctionConfig>;
}

export interface Diagnostic {
  level: "error" | "warning";
  key: string; // "functions.hello.memory"; "" for the file as a whole
  message: string;
  line?: number; // TOML syntax errors only
  column?: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "FNRUN_CONFIG_INVALID";
  readonly kind = "user";
  /** Errors first, then the warnings found in the same pass. */
  readonly diagnostics: Diagnostic[];
  constructor(readonly file: string | null, diagnostics: Diagnostic[], options?: { cause?: unknown }) {
    const sorted = [...diagnostics.filter((d) => d.level === "error"), ...diagnostics.filter((d) => d.level === "warning")];
    super(sorted.map((d) => formatDiagnostic(file, d)).join("\n"), options);
    this.diagnostics = sorted;
  }
}

/** `<file>: <key>: <message>` (`<file>:<line>:<column>: …` for syntax errors), one line. */
export function formatDiagnostic(file: string | null, d: Diagnostic): string {
  const where = d.line ? `${file ?? "config.toml"}:${d.line}:${d.column}` : (file ?? "config.toml");
  return `${where}: ${d.level === "warning" ? "warning: " : ""}${d.key ? `${d.key}: ` : ""}${d.message}`;
}

export const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MiB = 2 ** 20;
/** sun_path is 108 bytes including the NUL terminator (unix(7)). */
const MAX_SOCKET_PATH = 107;

const DEFAULT_LIMITS: FunctionLimits = {
  memoryBytes: 128 * MiB, cpu: 0.5, timeoutMs: 30_000, concurrency: 16,
  minInstances: 0, maxInstances: 10, maxQueue: 100, pids: 64, tmpBytes: 16 * MiB,
};

const KNOWN = {
  "": ["gateway", "daemon", "control", "build", "pool", "defaults", "functions"],
  gateway: ["listen", "max_body", "workers"],
  build: ["engine"],
  daemon: ["state_dir"],
  control: ["listen", "token_file"],
  pool: ["stem_cells", "memory_budget", "idle_timeout"],
  defaults: ["memory", "cpu", "timeout", "concurrency", "min_instances", "max_instances", "max_queue", "pids", "tmp"],
  function: ["dir", "base", "routes", "env", "schedule", "timezone", "overlap", "memory", "cpu", "timeout", "concurrency",
    "min_instances", "max_instances", "max_queue", "pids", "tmp"],
} as const;

/** The config used when there is no config.toml: every default, no functions. */
export function defaultConfig(root: string): FnrunConfig {
  root = path.resolve(root);
  const stateDir = path.join(root, ".fnrun");
  return {
    path: null,
    root,
    gateway: { listen: { host: "127.0.0.1", port: 8080 }, maxBodyBytes: 6 * MiB, workers: defaultWorkers() },
    daemon: { stateDir },
    control: { socket: path.join(stateDir, "fnrun.sock") },
    build: { engine: "embedded" },
    pool: { stemCells: 2, memoryBudgetBytes: 2 * 2 ** 30, idleTimeoutMs: 5 * 60_000 },
    defaults: { ...DEFAULT_LIMITS },
    functions: new Map(),
  };
}

/** Reads and validates a config.toml; throws ConfigError listing every problem. */
export async function loadConfig(file: string): Promise<{ config: FnrunConfig; warnings: Diagnostic[] }> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = e.code === "ENOENT"
      ? `no such file; create it (see "config.toml" in the README) or pass --config <path>`
      : `cannot read: ${e.code ?? e.message}`;
    throw new ConfigError(abs, [{ level: "error", key: "", message }], { cause: err });
  }
  const result = parseConfig(text, { path: abs, root: path.dirname(abs) });
  // A missing function folder is only a warning: config.toml may name functions not written yet.
  for (const fn of result.config.functions.values()) {
    const s = await stat(fn.dir).catch(() => null);
    if (!s?.isDirectory()) {
      result.warnings.push({ level: "warning", key: `functions.${fn.name}.dir`, message: `${fn.dir} is not a folder` });
    }
  }
  return result;
}

/** Validates config.toml text. `root` is the folder relative paths start from. */
export function parseConfig(text: string, options: { path?: string; root: string }): { config: FnrunConfig; warnings: Diagnostic[] } {
  const file = options.path ? path.resolve(options.path) : null;
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
    throw new ConfigError(file, [
      { level: "error", key: "", message: `invalid TOML: ${reason}`, line: err.line, column: err.column },
    ], { cause: err });
  }
  const d = new Diagnostics();
  const config = defaultConfig(options.root);
  config.path = file;
  d.keys("", raw, KNOWN[""]);

  const gateway = d.table("gateway", raw.gateway, KNOWN.gateway);
  config.gateway.listen = d.field("gateway.listen", gateway.listen, parseListen, config.gateway.listen);
  config.gateway.maxBodyBytes = d.field("gateway.max_body", gateway.max_body, size(0), config.gateway.maxBodyBytes);
  config.gateway.workers = d.field("gateway.workers", gateway.workers, wholeIn(1, 64), config.gateway.workers);

  const daemon = d.table("daemon", raw.daemon, KNOWN.daemon);
  const stateDir = d.field("daemon.state_dir", daemon.state_dir, nonEmptyString, ".fnrun");
  config.daemon.stateDir = path.resolve(config.root, stateDir);
  config.control.socket = path.join(config.daemon.stateDir, "fnrun.sock");
  const socketBytes = Buffer.byteLength(config.control.socket);
  if (socketBytes > MAX_SOCKET_PATH) {
    d.error("daemon.state_dir", `the control socket ${config.control.socket} would be ${socketBytes} bytes long; ` +
      `unix socket paths are limited to ${MAX_SOCKET_PATH} bytes, so choose a shorter state_dir`);
  }
  const control = d.table("control", raw.control, KNOWN.control);
  const controlListen = d.field("control.listen", control.listen, parseListen, undefined);
  if (controlListen) config.control.listen = controlListen;
  const tokenFile = d.field("control.token_file", control.token_file, nonEmptyString, undefined);
  if (tokenFile !== undefined) config.control.tokenFile = path.resolve(config.root, tokenFile);
  if (config.control.listen && !config.control.tokenFile) {
    d.error("control.listen", "a TCP control listener needs a bearer token: set control.token_file to a file holding one (e.g. `openssl rand -hex 32 > control.token`)");
  }

  const build = d.table("build", raw.build, KNOWN.build);
  config.build.engine = d.field("build.engine", build.engine, (v) => {
    if (v === "embedded" || v === "buildah" || v === "docker") return v;
    throw new Error(`expected "embedded", "buildah" or "docker", got ${describe(v)}`);
  }, config.build.engine);

  const pool = d.table("pool", raw.pool, KNOWN.pool);
  config.pool.stemCells = d.field("pool.stem_cells", pool.stem_cells, whole(0), config.pool.stemCells);
  config.pool.memoryBudgetBytes = d.field("pool.memory_budget", pool.memory_budget, size(0), config.pool.memoryBudgetBytes);
  config.pool.idleTimeoutMs = d.field("pool.idle_timeout", pool.idle_timeout, positiveDuration, config.pool.idleTimeoutMs);

  const defaults = d.table("defaults", raw.defaults, KNOWN.defaults);
  config.defaults = readLimits(d, "defaults", defaults, DEFAULT_LIMITS);

  const functions = d.table("functions", raw.functions, null);
  const explicitRoutes = new Set<string>();
  for (const [name, value] of Object.entries(functions)) {
    const key = `functions.${keyPart(name)}`;
    if (!NAME_RE.test(name)) {
      d.error(key, `expected a function name of lowercase letters, digits and "-", starting with a letter or digit, ` +
        `at most 40 characters, got ${describe(name)}`);
    }
    const fn = readFunction(d, key, name, value, config);
    if (fn && NAME_RE.test(name)) config.functions.set(name, fn);
    if (isTable(value) && value.routes !== undefined) explicitRoutes.add(name);
  }
  checkRouteConflicts(d, config.functions, explicitRoutes);

  if (d.errors.length > 0) throw new ConfigError(file, [...d.errors, ...d.warnings]);
  return { config, warnings: d.warnings };
}

/**
 * The config of a function deployed from a folder (`fnrun deploy DIR`): its entry from
 * config.toml when it has one, else the defaults with routes /NAME and /NAME/*. A relative
 * `dir` is resolved against config.root; callers holding a user's cwd should pass it absolute.
 * Throws ConfigError for a bad name or a default route another function already has.
 */
export function functionConfigFor(config: FnrunConfig, name: string, dir: string): FunctionConfig {
  const known = config.functions.get(name);
  if (known) return known;
  const d = new Diagnostics();
  if (!NAME_RE.test(name)) {
    d.error(`functions.${keyPart(name)}`, `expected a function name of lowercase letters, digits and "-", ` +
      `starting with a letter or digit, at most 40 characters, got ${describe(name)}`);
  }
  const fn: FunctionConfig = { name, dir: path.resolve(config.root, dir), routes: defaultRoutes(name), env: {}, ...config.defaults };
  // Which functions wrote their routes is unknown here; only the message wording depends on it.
  const explicit = new Set([...config.functions.keys()]);
  checkRouteConflicts(d, new Map([...config.functions, [name, fn]]), explicit);
  if (d.errors.length > 0) throw new ConfigError(config.path, d.errors);
  return fn;
}

function defaultRoutes(name: string): Route[] {
  return [{ method: "*", path: `/${name}` }, { method: "*", path: `/${name}/*` }];
}

function readFunction(d: Diagnostics, key: string, name: string, value: unknown, config: FnrunConfig): FunctionConfig | null {
  if (!isTable(value)) {
    d.error(key, `expected a table like [${key}] with dir = "functions/${name}", got ${describe(value)}`);
    return null;
  }
  d.keys(key, value, KNOWN.function);
  let dir = "";
  if (value.dir === undefined) d.error(`${key}.dir`, `missing; expected the function's folder relative to config.toml, like "functions/${name}"`);
  else dir = d.field(`${key}.dir`, value.dir, nonEmptyString, "");
  const routes = value.routes === undefined ? defaultRoutes(name) : readRoutes(d, `${key}.routes`, value.routes);
  const env: Record<string, string> = {};
  const envTable = d.table(`${key}.env`, value.env, null);
  for (const [k, v] of Object.entries(envTable)) {
    const envKey = `${key}.env.${keyPart(k)}`;
    if (!ENV_KEY_RE.test(k)) d.error(envKey, `expected an environment variable name like "API_URL" (letters, digits, "_")`);
    else if (k.startsWith("FNRUN_")) d.error(envKey, `names starting with FNRUN_ are reserved for fnrun`);
    else if (typeof v !== "string") d.error(envKey, `expected a string, got ${describe(v)}${typeof v === "number" || typeof v === "boolean" ? ` (quote it: "${v}")` : ""}`);
    else if (v.includes("\0")) d.error(envKey, `NUL characters cannot be passed in the environment`);
    else Object.defineProperty(env, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  const fn: FunctionConfig = { name, dir: path.resolve(config.root, dir), routes, env, ...readLimits(d, key, value, config.defaults) };
  const base = d.field(`${key}.base`, value.base, nonEmptyString, undefined);
  if (base !== undefined) fn.base = base;
  const sched = checkSchedule(value);
  for (const e of sched.errors) d.error(`${key}.${e.key}`, e.message);
  for (const w of sched.warnings) d.warn(`${key}.${w.key}`, w.message);
  Object.assign(fn, sched.values);
  return fn;
}

/** [defaults] and the per-function overrides share one table of fields. */
const LIMIT_FIELDS: Array<[string, keyof FunctionLimits, (v: unknown) => number]> = [
  ["memory", "memoryBytes", size(16 * MiB)],
  ["cpu", "cpu", cpuShare],
  ["timeout", "timeoutMs", positiveDuration],
  ["concurrency", "concurrency", whole(1)],
  ["min_instances", "minInstances", whole(0)],
  ["max_instances", "maxInstances", whole(1)],
  ["max_queue", "maxQueue", whole(0)],
  ["pids", "pids", whole(8)],
  // tmpfs treats size=0 as "no limit" (Documentation/filesystems/tmpfs.rst), so 0 must not pass.
  ["tmp", "tmpBytes", size(MiB)],
];

function readLimits(d: Diagnostics, key: string, table: Record<string, unknown>, base: FunctionLimits): FunctionLimits {
  const out = { ...base };
  const before = d.errors.length;
  for (const [name, prop, parse] of LIMIT_FIELDS) out[prop] = d.field(`${key}.${name}`, table[name], parse, base[prop]);
  const failed = d.errors.slice(before).some((e) => /\.(min|max)_instances$/.test(e.key));
  if (!failed && out.maxInstances < out.minInstances) {
    if (table.max_instances !== undefined) {
      d.error(`${key}.max_instances`, `expected a whole number ≥ min_instances (${out.minInstances}), got ${out.maxInstances}`);
    } else if (table.min_instances !== undefined) {
      d.error(`${key}.min_instances`, `expected a whole number ≤ max_instances (${out.maxInstances}), got ${out.minInstances}`);
    }
  }
  return out;
}

function readRoutes(d: Diagnostics, key: string, value: unknown): Route[] {
  if (!Array.isArray(value)) {
    d.error(key, `expected an array of routes like ["GET /hello", "/hello/:name"], got ${describe(value)}`);
    return [];
  }
  const routes: Route[] = [];
  value.forEach((v, i) => {
    try {
      routes.push(parseRoute(v));
    } catch (err) {
      d.error(`${key}[${i}]`, (err as Error).message);
    }
  });
  return routes;
}

/** "GET /users/:id", "/hello/*" → Route; throws with the reason. */
export function parseRoute(v: unknown): Route {
  const example = `expected a route like "GET /hello/:name" or "/hello/*", got ${describe(v)}`;
  if (typeof v !== "string") throw new Error(example);
  const parts = v.trim().split(/\s+/);
  if (parts.length > 2 || parts[0] === "") throw new Error(example);
  const [method, routePath] = parts.length === 2 ? parts : ["*", parts[0]];
  if (method !== "*" && !(ROUTE_METHODS as readonly string[]).includes(method)) {
    throw new Error(`expected a method out of ${ROUTE_METHODS.join(" ")} (or none for all), got ${describe(v)}`);
  }
  if (!routePath.startsWith("/")) throw new Error(example);
  const why = routePathProblem(routePath);
  if (why) throw new Error(`${describe(v)}: ${why}`);
  return { method, path: routePath };
}

/**
 * Route paths are matched against the decoded request path, so they are written decoded and
 * plain: an encoded or dot segment ("%2e%2e", "..") could never match what a client means, and
 * would invite traversal confusion between the router and the function.
 */
function routePathProblem(p: string): string | null {
  if (p === "/") return null;
  const segments = p.slice(1).split("/");
  const params = new Set<string>();
  for (const [i, seg] of segments.entries()) {
    if (seg === "") return "empty path segment (\"//\" or a trailing \"/\")";
    if (seg === "." || seg === "..") return `"." and ".." segments are not allowed`;
    if (seg === "*") {
      if (i !== segments.length - 1) return `"*" is only allowed as the last segment`;
      continue;
    }
    if (seg.startsWith(":")) {
      const param = seg.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(param)) return `expected a parameter name like ":id", got ":${param}"`;
      if (params.has(param)) return `parameter ":${param}" appears twice`;
      params.add(param);
      continue;
    }
    if (seg.includes("%")) return `"%" is not allowed; write the path decoded`;
    // RFC 3986 pchar without pct-encoded; ":" and "*" only as whole param/wildcard segments.
    const bad = /[^A-Za-z0-9\-._~!$&'()+,;=@]/.exec(seg);
    if (bad) return `${JSON.stringify(bad[0])} is not allowed in a route path`;
  }
  return null;
}

/** Two functions may not share a route: same path (params compared by position) and method, or "*". */
function checkRouteConflicts(d: Diagnostics, functions: Map<string, FunctionConfig>, explicitRoutes: Set<string>): void {
  const seen = new Map<string, Array<{ fn: string; method: string; where: string; text: string }>>();
  for (const fn of functions.values()) {
    fn.routes.forEach((r, i) => {
      const shape = r.path.replace(/\/:[^/]+/g, "/:");
      const list = seen.get(shape) ?? [];
      seen.set(shape, list);
      const text = r.method === "*" ? r.path : `${r.method} ${r.path}`;
      const explicit = explicitRoutes.has(fn.name);
      const where = explicit ? `functions.${keyPart(fn.name)}.routes[${i}]` : `functions.${keyPart(fn.name)}`;
      const clash = list.find((o) => o.fn !== fn.name && (o.method === r.method || o.method === "*" || r.method === "*"));
      if (clash) {
        d.error(where, `${explicit ? "route" : "default route"} ${JSON.stringify(text)} clashes with ` +
          `${JSON.stringify(clash.text)} of function ${JSON.stringify(clash.fn)} (${clash.where})`);
      }
      list.push({ fn: fn.name, method: r.method, where, text });
    });
  }
}

// ---- value parsers: each returns the value or throws Error("expected …, got …") ----

/**
 * Gateway processes when config.toml names none: half the cores, 1 to 8. A proxied request
 * costs the gateway about as much CPU as the function's own answer (BENCHMARKS.md), so the
 * other half is left to the instances; past 8 the primary's pools are the limit, not the proxy.
 */
export function defaultWorkers(cores = availableParallelism()): number {
  return Math.max(1, Math.min(8, Math.floor(cores / 2)));
}

function wholeIn(min: number, max: number) {
  return (v: unknown): number => {
    const n = whole(min)(v);
    if (n > max) throw new Error(`expected a whole number from ${min} to ${max}, got ${n}`);
    return n;
  };
}

function whole(min: number) {
  return (v: unknown): number => {
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= min) return v;
    throw new Error(`expected a whole number ≥ ${min}, got ${describe(v)}`);
  };
}

function size(min: number) {
  return (v: unknown): number => {
    const bytes = parseSize(v as string | number);
    if (bytes < min) throw new Error(`expected a size of at least ${formatSize(min)}, got ${describe(v)}`);
    return bytes;
  };
}

function positiveDuration(v: unknown): number {
  const ms = parseDuration(v as string | number);
  if (ms <= 0) throw new Error(`expected a duration greater than 0, like "30s", got ${describe(v)}`);
  return ms;
}

function cpuShare(v: unknown): number {
  if (typeof v === "number" && v >= 0.01 && v <= 64) return v;
  throw new Error(`expected a share of one core from 0.01 to 64, like 0.5, got ${describe(v)}`);
}

function nonEmptyString(v: unknown): string {
  if (typeof v === "string" && v.length > 0 && !v.includes("\0")) return v;
  throw new Error(`expected a non-empty string, got ${describe(v)}`);
}

function parseListen(v: unknown): { host: string; port: number } {
  const m = typeof v === "string" ? /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(v) : null;
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`expected "host:port" like "127.0.0.1:8080", got ${describe(v)}`);
  return { host: m[1] ?? m[2], port };
}

// ---- diagnostics ----

class Diagnostics {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];

  error(key: string, message: string): void {
    this.errors.push({ level: "error", key, message });
  }

  warn(key: string, message: string): void {
    this.warnings.push({ level: "warning", key, message });
  }

  /** The value parsed, or `fallback` when absent or invalid (the error is recorded). */
  field<T>(key: string, value: unknown, parse: (v: unknown) => T, fallback: T): T {
    if (value === undefined) return fallback;
    try {
      return parse(value);
    } catch (err) {
      this.error(key, (err as Error).message);
      return fallback;
    }
  }

  /** A sub-table ({} when absent or not a table); warns about keys outside `known` (null: any key). */
  table(key: string, value: unknown, known: readonly string[] | null): Record<string, unknown> {
    if (value === undefined) return {};
    if (!isTable(value)) {
      this.error(key, `expected a table ([${key}]), got ${describe(value)}`);
      return {};
    }
    if (known) this.keys(key, value, known);
    return value;
  }

  keys(key: string, table: Record<string, unknown>, known: readonly string[]): void {
    for (const k of Object.keys(table)) {
      if (known.includes(k)) continue;
      const guess = closest(k, known);
      this.warn(key ? `${key}.${keyPart(k)}` : keyPart(k), `unknown key${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ""}`);
    }
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

/** A key as TOML would write it in a dotted path: bare when it can be, quoted otherwise. */
function keyPart(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

/** The known key within edit distance 2 (transpositions count 1), if any. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c);
    if (dist < bestDistance && dist < Math.max(c.length, 2)) [best, bestDistance] = [c, dist];
  }
  return best;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
