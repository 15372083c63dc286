/**
 * @module runtime/bootstrap/server
 * Runs INSIDE every container, with the image's node: imports the function's bundle, then
 * serves it over HTTP/1.1 on <FNRUN_SOCKET_DIR>/fn.sock. The socket appears only after the
 * import, so its existence means "ready" to the host. Bundled into one file with its one
 * dependency, @hono/node-server, whose request/response conversion is Node's fastest
 * (a hand-written one cost ~90 µs a request, five times bare node:http).
 *
 * Without FNRUN_ENTRY it is a stem cell: it listens with no function and accepts exactly one
 * `POST /__fnrun/load {entry, env}` from the runtime, which imports the bundle; until then
 * every other request gets 503 `x-fnrun-error: stem`, afterwards the load path gets 409.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { renameSync, unlinkSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { runTagged, tagStream } from "./console-tag.ts";

type Env = Record<string, string>;
interface Ctx {
  waitUntil(p: Promise<unknown>): void;
  passThroughOnException(): void;
  deadline?: number;
  invocationId?: string;
}
type Handler = (request: Request, env: Env, ctx: Ctx) => unknown;
type ScheduledHandler = (event: { cron: string; scheduledTime: number }, env: Env, ctx: Ctx) => unknown;

const SOCKET_DIR = process.env.FNRUN_SOCKET_DIR || "/run/fnrun";
const SOCKET_PATH = `${SOCKET_DIR}/fn.sock`;
/** The one path a stem cell is specialized through; reserved in every instance (409 once loaded). */
const LOAD_PATH = "/__fnrun/load";
const MAX_LOAD_BODY = 1024 * 1024;
/** A cron run: `POST {cron, scheduledTime}` → the module's scheduled(event, env, ctx). Only the host sends it (the gateway refuses /__fnrun/ paths). */
const SCHEDULED_PATH = "/__fnrun/scheduled";
/** The module's scheduled() handler, when it has one (set by loadHandler). */
let scheduledHandler: ScheduledHandler | undefined;

/**
 * Node builds its fetch classes lazily; the first use costs ~25 ms (FACTS.md), and far more
 * under a 0.5-core CFS quota that the boot has already used up. Paid before the socket exists:
 * measured, warming after listen made "ready" ~40 ms sooner but the first response ~45 ms later.
 */
function warmFetchClasses(): void {
  new Response(new Request("http://warm/", { method: "POST", body: "x", headers: new Headers({ a: "b" }) }).body);
}

/** What the stem cell's warm-up requests are served by: a body round trip through every step a function's request takes. */
const WARM_HANDLER: Handler = (request) =>
  request.body ? new Response(request.body, { headers: { "content-type": "application/octet-stream" } }) : new Response("warm");

/**
 * Imports two throwaway modules from files, as a specialization imports the bundle: the first
 * import of a file in a process compiles the ESM loader's resolve/load/translate path (~1 ms
 * here, measured), which a stem cell can pay now instead of on its function's first request.
 */
async function warmModuleLoader(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const file = `/tmp/.fnrun-warm-${process.pid}-${i}.mjs`;
    writeFileSync(file, "export default { async fetch() { return new Response('warm'); } };\n");
    try {
      await loadHandler(file);
    } finally {
      unlinkSync(file);
    }
  }
}

/** One request to our own (not yet published) socket, its response read to the end. */
function selfRequest(socketPath: string, method: string, path: string, body?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, method, path, agent: false, headers: body ? { "content-type": "application/json" } : {} }, (res) => {
      res.on("error", reject);
      res.on("end", resolve);
      res.resume();
    });
    req.on("error", reject);
    req.end(body);
  });
}

// Lines written during an invocation carry its id (console-tag.ts), also under concurrency.
tagStream(process.stdout);
tagStream(process.stderr);
process.on("unhandledRejection", (err) => console.error("fnrun: unhandled rejection:", err));
// pid 1 of a pid namespace gets no default signal handlers: without these it ignores SIGTERM/SIGINT.
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));

/** The `env` argument: the keys the runtime listed in FNRUN_ENV_KEYS, read from process env. */
function functionEnv(): Env {
  const env: Env = {};
  for (const key of (process.env.FNRUN_ENV_KEYS ?? "").split(",").filter(Boolean)) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return env;
}

/** Imports the bundle and finds its handler: module worker `{ fetch }` or a plain function. */
async function loadHandler(entry: string): Promise<Handler> {
  const mod = (await import(pathToFileURL(entry).href)) as { default?: unknown };
  const d = mod.default as { fetch?: unknown; scheduled?: unknown } | ((...a: unknown[]) => unknown) | undefined;
  if (typeof d === "function") return d as Handler;
  if (d && typeof d.scheduled === "function") scheduledHandler = (d.scheduled as ScheduledHandler).bind(d);
  if (d && typeof d.fetch === "function") return (d.fetch as Handler).bind(d);
  // A cron-only function: requests get a 404 that says why.
  if (scheduledHandler) return () => new Response(JSON.stringify({ error: "no fetch handler", message: "this function exports only scheduled()" }), { status: 404, headers: { "content-type": "application/json" } });
  throw new TypeError(`${entry}: default export must be a function or an object with fetch(request, env, ctx)`);
}

/**
 * Takes the gateway's x-fnrun-* headers out of the request before the function sees it (they
 * are the platform's, never the function's) and returns the two it carries. Done on
 * rawHeaders, before anything reads `req.headers` (which node builds from them lazily).
 */
function takePlatformHeaders(req: IncomingMessage): { deadline?: number; invocationId?: string } {
  const raw = req.rawHeaders;
  let deadline: number | undefined;
  let invocationId: string | undefined;
  for (let i = 0; i < raw.length; ) {
    const name = raw[i];
    if (name.length > 8 && name.slice(0, 8).toLowerCase() === "x-fnrun-") {
      const lower = name.toLowerCase();
      if (lower === "x-fnrun-deadline") deadline = Number(raw[i + 1]);
      else if (lower === "x-fnrun-invocation-id") invocationId = raw[i + 1];
      raw.splice(i, 2);
    } else i += 2;
  }
  return { deadline, invocationId };
}

/** The answer for a function that threw or failed to load: 502, JSON, and x-fnrun-error saying which. */
function errorResponse(kind: "threw" | "init", error: string, err: unknown): Response {
  return new Response(JSON.stringify({ error, message: messageOf(err) }), {
    status: 502,
    headers: { "content-type": "application/json", "x-fnrun-error": kind },
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown, fnrunError?: string): void {
  const body = JSON.stringify(value);
  const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (fnrunError) headers["x-fnrun-error"] = fnrunError;
  res.writeHead(status, headers);
  res.end(body);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The stem cell's load request: `{ entry, env }`, validated (it comes from the runtime, but a bug there must not half-load). */
async function readLoadRequest(req: IncomingMessage): Promise<{ entry: string; env: Env }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_LOAD_BODY) throw new TypeError(`load request larger than ${MAX_LOAD_BODY} bytes`);
    chunks.push(c);
  }
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { entry?: unknown; env?: unknown };
  if (typeof body.entry !== "string" || !body.entry.startsWith("/")) throw new TypeError("load request: `entry` must be an absolute path");
  const env: Env = {};
  if (body.env !== undefined) {
    if (typeof body.env !== "object" || body.env === null || Array.isArray(body.env)) throw new TypeError("load request: `env` must be an object");
    for (const [k, v] of Object.entries(body.env)) {
      if (typeof v !== "string") throw new TypeError(`load request: env \`${k}\` must be a string`);
      env[k] = v;
    }
  }
  return { entry: body.entry, env };
}

async function main(): Promise<void> {
  const entry = process.env.FNRUN_ENTRY;
  const env = functionEnv();
  let handler: Handler | undefined;
  let initError: unknown;
  // "stem": no function yet (load accepted); "loading": the one load is running; "loaded": for good.
  let phase: "stem" | "loading" | "loaded" = entry ? "loaded" : "stem";
  if (entry) {
    try {
      handler = await loadHandler(entry);
    } catch (err) {
      initError = err;
      console.error(`fnrun: function failed to initialize: ${entry}:`, err);
    }
  }

  /**
   * A cron run: 200 when scheduled() (and what it passed to waitUntil) resolved, 502
   * `x-fnrun-error: threw` when it threw, 501 when the module has no scheduled().
   */
  async function runScheduled(req: IncomingMessage, res: ServerResponse, platform: { deadline?: number; invocationId?: string }): Promise<void> {
    if (req.method !== "POST") return (req.resume(), sendJson(res, 405, { error: "method not allowed", message: `${SCHEDULED_PATH} takes POST` }, "scheduled"));
    if (!handler) return (req.resume(), sendJson(res, 502, { error: "function failed to initialize", message: messageOf(initError) }, "init"));
    if (!scheduledHandler) return (req.resume(), sendJson(res, 501, { error: "no scheduled handler", message: "the function exports no scheduled() handler" }, "no-scheduled"));
    let event: { cron: string; scheduledTime: number };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { cron?: unknown; scheduledTime?: unknown };
      if (typeof body.cron !== "string" || typeof body.scheduledTime !== "number") throw new TypeError("expected {cron: string, scheduledTime: number}");
      event = { cron: body.cron, scheduledTime: body.scheduledTime };
    } catch (err) {
      return sendJson(res, 400, { error: "bad scheduled request", message: messageOf(err) }, "scheduled");
    }
    const pending: Promise<unknown>[] = [];
    const ctx: Ctx = {
      waitUntil(p) { pending.push(Promise.resolve(p).catch((err) => console.error("fnrun: waitUntil promise rejected:", err))); },
      passThroughOnException() {},
      deadline: platform.deadline,
      invocationId: platform.invocationId,
    };
    const t0 = performance.now();
    try {
      await scheduledHandler(event, env, ctx);
      await Promise.all(pending);
    } catch (err) {
      console.error("fnrun: scheduled() threw:", err);
      return sendJson(res, 502, { error: "function threw", message: messageOf(err) }, "threw");
    }
    sendJson(res, 200, { ok: true, ms: Math.round((performance.now() - t0) * 1000) / 1000 });
  }

  // While true, requests come from our own warm-up (the socket is not published yet).
  let warming = false;

  /** Specializes this stem cell: the function's env into process.env and `env`, then the import. */
  async function load(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (warming) {
      await readLoadRequest(req);
      return sendJson(res, 200, { ok: true, loadMs: 0 });
    }
    // GET: the instance's state, for the host to check that a cold start's import succeeded.
    if (req.method === "GET" && !warming) {
      req.resume();
      return sendJson(res, 200, { phase, ok: handler !== undefined, hasScheduled: scheduledHandler !== undefined, error: handler || phase !== "loaded" ? undefined : messageOf(initError) });
    }
    if (phase !== "stem" || req.method !== "POST") {
      return sendJson(res, 409, { error: "a function is already loaded", message: "an instance never serves another function" }, "loaded");
    }
    phase = "loading"; // synchronously: a second load arriving meanwhile is refused
    let request: { entry: string; env: Env };
    try {
      request = await readLoadRequest(req);
    } catch (err) {
      phase = "stem"; // nothing was loaded: a corrected request may follow
      return sendJson(res, 400, { error: "bad load request", message: messageOf(err) }, "load");
    }
    for (const [k, v] of Object.entries(request.env)) {
      process.env[k] = v;
      env[k] = v;
    }
    const t0 = performance.now();
    try {
      handler = await loadHandler(request.entry);
    } catch (err) {
      initError = err;
      console.error(`fnrun: function failed to initialize: ${request.entry}:`, err);
    }
    phase = "loaded";
    const loadMs = Math.round((performance.now() - t0) * 1000) / 1000;
    if (handler) sendJson(res, 200, { ok: true, loadMs });
    else sendJson(res, 500, { error: "function failed to initialize", message: messageOf(initError), loadMs }, "init");
  }

  const kPlatform = Symbol("fnrun.platform");
  type Incoming = IncomingMessage & { [kPlatform]?: { deadline?: number; invocationId?: string } };
  // @hono/node-server turns node's request into a Request lazily and writes the Response back
  // on its fast paths; its lightweight Request/Response globals (overrideGlobalObjects) are what
  // the function constructs too, so a `new Response("text")` is written without a web stream.
  const serveFunction = getRequestListener(
    async (request, bindings) => {
      const fn = warming ? WARM_HANDLER : handler;
      if (!fn) return errorResponse("init", "function failed to initialize", initError);
      const platform = (bindings.incoming as Incoming)[kPlatform] ?? {};
      const ctx: Ctx = {
        waitUntil(p) { Promise.resolve(p).catch((err) => console.error("fnrun: waitUntil promise rejected:", err)); },
        passThroughOnException() {},
        deadline: platform.deadline,
        invocationId: platform.invocationId,
      };
      try {
        const response = await fn(request, env, ctx);
        if (!(response instanceof Response)) throw new TypeError(`function returned ${describe(response)}, not a Response`);
        return response;
      } catch (err) {
        console.error("fnrun: function threw:", err);
        return errorResponse("threw", "function threw", err);
      }
    },
    {
      errorHandler: (err) => {
        console.error("fnrun: response body failed:", err);
        return errorResponse("threw", "function threw", err);
      },
    },
  );

  const server = createServer((req, res) => {
    // The gateway's own listener dates the answer; one header fewer to write, parse and copy here.
    res.sendDate = false;
    const url = req.url ?? "/";
    if (url === LOAD_PATH || url.startsWith(`${LOAD_PATH}?`)) return void load(req, res);
    if (!warming && phase !== "loaded") return sendJson(res, 503, { error: "no function loaded", message: "this instance is a stem cell" }, "stem");
    const platform = ((req as Incoming)[kPlatform] = takePlatformHeaders(req));
    if (url === SCHEDULED_PATH) return void runTagged(platform.invocationId, () => runScheduled(req, res, platform));
    return void runTagged(platform.invocationId, () => serveFunction(req, res));
  });
  // The host's pool owns connections and closes idle ones itself: never close one under it. (0 also
  // drops the per-response `Keep-Alive: timeout=` header, which the host would parse and discard.)
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0; // the gateway owns timeouts (x-fnrun-deadline)
  // Listen on a temporary name, then rename: the host treats the socket's existence as
  // "ready", and between bind(2) and listen(2) a connect would be refused.
  const tmp = `${SOCKET_PATH}.${process.pid}.tmp`;
  for (const p of [tmp, SOCKET_PATH]) {
    try {
      unlinkSync(p);
    } catch {}
  }
  warmFetchClasses();
  server.listen(tmp, async () => {
    // A stem cell has time now and none later: run a load request and a function's request
    // path (HTTP parser, body streams, sendResponse) once each, so that their first use after
    // specialization is not also their first compilation.
    if (phase === "stem") {
      warming = true;
      try {
        for (let i = 0; i < 2; i++) {
          await selfRequest(tmp, "POST", LOAD_PATH, JSON.stringify({ entry: "/warm.mjs", env: { WARM: "1" } }));
          await selfRequest(tmp, "GET", "/warm");
          await selfRequest(tmp, "POST", "/warm", "warm ".repeat(64));
        }
      } catch (err) {
        console.error("fnrun: stem warm-up failed (serving anyway):", err);
      } finally {
        warming = false;
      }
      await warmModuleLoader().catch((err) => console.error("fnrun: stem module-loader warm-up failed (serving anyway):", err));
    }
    renameSync(tmp, SOCKET_PATH);
  });
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return `an object (${(v as object).constructor?.name ?? "Object"})`;
  return typeof v;
}

await main();
