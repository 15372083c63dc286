/**
 * @module runtime/bootstrap/function-module
 * The function as the bootstrap sees it: its bundle imported and its handlers found (module
 * worker `{ fetch, scheduled }` or a plain default function), the `env` argument, and the
 * types shared by every mode (fnrun's socket, standalone TCP, one-shot scheduled run).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export type Env = Record<string, string>;
export interface Ctx {
  waitUntil(p: Promise<unknown>): void;
  passThroughOnException(): void;
  deadline?: number;
  invocationId?: string;
}
export type Handler = (request: Request, env: Env, ctx: Ctx) => unknown;
export interface ScheduledEvent {
  cron: string;
  scheduledTime: number;
}
export type ScheduledHandler = (event: ScheduledEvent, env: Env, ctx: Ctx) => unknown;

export interface LoadedFunction {
  fetch: Handler;
  /** The module's scheduled(), when it has one. */
  scheduled?: ScheduledHandler;
}

/** Imports the bundle and finds its handlers. Throws (the import's own error, or a TypeError for a wrong shape). */
export async function loadFunction(entry: string): Promise<LoadedFunction> {
  const mod = (requireEsm(entry) ?? (await import(pathToFileURL(entry).href))) as { default?: unknown };
  const d = mod.default as { fetch?: unknown; scheduled?: unknown } | ((...a: unknown[]) => unknown) | undefined;
  if (typeof d === "function") return { fetch: d as Handler };
  const scheduled = d && typeof d.scheduled === "function" ? (d.scheduled as ScheduledHandler).bind(d) : undefined;
  if (d && typeof d.fetch === "function") return { fetch: (d.fetch as Handler).bind(d), scheduled };
  // A cron-only function: requests get a 404 that says why.
  if (scheduled) return { fetch: cronOnly, scheduled };
  throw new TypeError(`${entry}: default export must be a function or an object with fetch(request, env, ctx)`);
}

const requireModule = createRequire(import.meta.url);

/**
 * The bundle through require(esm) (node ≥ 20.19): the same module, evaluated once, with the
 * same errors, but read with one synchronous read instead of import()'s four thread-pool round
 * trips (open, stat, read, close), which a start pays in full since the pool's threads sleep
 * until then (host: ~0.5 ms less per first import of a small module, median of 15; a stem start
 * through the gateway 9.85 -> 9.02 ms, 16 alternating rounds). undefined, for the caller's
 * import(), when this node has no require(esm), when the entry is missing (import()'s
 * ERR_MODULE_NOT_FOUND, not a CommonJS "require stack" naming the bootstrap), and when the graph
 * has top-level await (refused before anything in it runs). Any other error is the module's
 * own and is thrown as it is: trying import() after it could run the module a second time
 * (it does under a loader hook such as tsx's).
 */
function requireEsm(entry: string): unknown {
  if (!(process.features as { require_module?: boolean }).require_module || !existsSync(entry)) return undefined;
  try {
    return requireModule(entry);
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === "ERR_REQUIRE_ASYNC_MODULE") return undefined;
    throw err;
  }
}

function cronOnly(): Response {
  return new Response(JSON.stringify({ error: "no fetch handler", message: "this function exports only scheduled()" }), { status: 404, headers: { "content-type": "application/json" } });
}

/**
 * Variables of the image and of fnrun itself, never a function's own: left out of `env` when
 * no FNRUN_ENV_KEYS says which keys are the function's (a container started by docker or
 * Kubernetes rather than by fnrun).
 */
const NOT_FUNCTION_ENV = new Set(["PATH", "NODE_ENV", "PORT", "HOME", "HOSTNAME"]);

/**
 * The `env` argument. FNRUN_ENV_KEYS (always set by fnrun's runtime, and by `fnrun export k8s`)
 * lists the function's keys, read from the process env. Without it every variable counts but
 * FNRUN_* and the image's own (PATH, NODE_ENV, PORT, HOME, HOSTNAME): `docker run -e K=V` reaches
 * the function as it reaches `process.env`.
 */
export function functionEnv(processEnv: NodeJS.ProcessEnv = process.env): Env {
  const env: Env = {};
  const keys = processEnv.FNRUN_ENV_KEYS;
  if (keys !== undefined) {
    for (const key of keys.split(",")) {
      const v = key ? processEnv[key] : undefined;
      if (v !== undefined) env[key] = v;
    }
    return env;
  }
  for (const [key, v] of Object.entries(processEnv)) {
    if (v !== undefined && !key.startsWith("FNRUN_") && !NOT_FUNCTION_ENV.has(key)) env[key] = v;
  }
  return env;
}

/**
 * Calls scheduled(event, env, ctx) and waits for it and for everything it passed to
 * ctx.waitUntil() (also what those passed on); rejects only when scheduled() itself threw or
 * rejected. A rejected waitUntil promise is logged, as it is for a request.
 */
export async function callScheduled(fn: ScheduledHandler, event: ScheduledEvent, env: Env, platform: { deadline?: number; invocationId?: string }): Promise<void> {
  const pending: Promise<unknown>[] = [];
  const ctx: Ctx = {
    waitUntil(p) { pending.push(settled(p)); },
    passThroughOnException() {},
    deadline: platform.deadline,
    invocationId: platform.invocationId,
  };
  await fn(event, env, ctx);
  while (pending.length) await Promise.all(pending.splice(0));
}

/** A promise the function passed to ctx.waitUntil(), its rejection logged (it never fails the request). */
export function settled(p: unknown): Promise<unknown> {
  return Promise.resolve(p).catch((err) => console.error("fnrun: waitUntil promise rejected:", err));
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What a handler returned, in words, for the error of one that returned no Response. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return `an object (${(v as object).constructor?.name ?? "Object"})`;
  return typeof v;
}
