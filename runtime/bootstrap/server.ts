/**
 * @module runtime/bootstrap/server
 * Runs INSIDE every container, with the image's node: imports the function's bundle, then
 * serves it over HTTP/1.1 on <FNRUN_SOCKET_DIR>/fn.sock. The socket appears only after the
 * import, so its existence means "ready" to the host. Dependency-free (node:http and the
 * global fetch classes) so its bundle stays small and boots fast.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { renameSync, unlinkSync } from "node:fs";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";

type Env = Record<string, string>;
interface Ctx {
  waitUntil(p: Promise<unknown>): void;
  passThroughOnException(): void;
  deadline?: number;
  invocationId?: string;
}
type Handler = (request: Request, env: Env, ctx: Ctx) => unknown;

const SOCKET_DIR = process.env.FNRUN_SOCKET_DIR || "/run/fnrun";
const SOCKET_PATH = `${SOCKET_DIR}/fn.sock`;
const BODYLESS = new Set(["GET", "HEAD"]);

/**
 * Node builds its fetch classes lazily; the first use costs ~25 ms (FACTS.md), and far more
 * under a 0.5-core CFS quota that the boot has already used up. Paid before the socket exists:
 * measured, warming after listen made "ready" ~40 ms sooner but the first response ~45 ms later.
 */
function warmFetchClasses(): void {
  new Response(new Request("http://warm/", { method: "POST", body: "x", headers: new Headers({ a: "b" }) }).body);
}

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
  const d = mod.default as { fetch?: unknown } | ((...a: unknown[]) => unknown) | undefined;
  if (typeof d === "function") return d as Handler;
  if (d && typeof d.fetch === "function") return (d.fetch as Handler).bind(d);
  throw new TypeError(`${entry}: default export must be a function or an object with fetch(request, env, ctx)`);
}

function toRequest(req: IncomingMessage, signal: AbortSignal): { request: Request; deadline?: number; invocationId?: string } {
  const headers = new Headers();
  let deadline: number | undefined;
  let invocationId: string | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    if (name === "x-fnrun-deadline") deadline = Number(value);
    else if (name === "x-fnrun-invocation-id") invocationId = value;
    if (name.startsWith("x-fnrun-")) continue; // the gateway's, not the function's
    headers.append(name, value);
  }
  const method = req.method ?? "GET";
  const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal };
  if (!BODYLESS.has(method)) {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = "half";
  }
  return { request: new Request(url, init), deadline, invocationId };
}

function sendError(res: ServerResponse, kind: "threw" | "init", error: string, err: unknown): void {
  const body = JSON.stringify({ error, message: err instanceof Error ? err.message : String(err) });
  if (res.headersSent) {
    res.destroy(); // too late for a clean error: cut the response so the client sees it broke
    return;
  }
  res.writeHead(502, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-fnrun-error": kind });
  res.end(body);
}

/** Writes a Response to the node response, chunk by chunk, waiting on 'drain' (no buffering). */
async function sendResponse(res: ServerResponse, response: Response, isHead: boolean): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  res.writeHead(response.status, response.statusText || undefined, headers);
  if (!response.body || isHead) {
    res.end();
    await response.body?.cancel().catch(() => {});
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => reader.cancel().catch(() => {});
  res.once("close", onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      if (!res.write(value)) await new Promise<void>((resolve) => { res.once("drain", resolve); res.once("close", resolve); });
    }
    res.end();
  } finally {
    res.off("close", onClose);
  }
}

async function main(): Promise<void> {
  const entry = process.env.FNRUN_ENTRY;
  const env = functionEnv();
  let handler: Handler | undefined;
  let initError: unknown;
  if (entry) {
    try {
      handler = await loadHandler(entry);
    } catch (err) {
      initError = err;
      console.error(`fnrun: function failed to initialize: ${entry}:`, err);
    }
  } else {
    initError = new Error("no function loaded (FNRUN_ENTRY is not set)");
  }

  const server = createServer(async (req, res) => {
    if (!handler) return sendError(res, "init", "function failed to initialize", initError);
    const aborter = new AbortController();
    res.once("close", () => { if (!res.writableFinished) aborter.abort(); });
    let response: unknown;
    try {
      const { request, deadline, invocationId } = toRequest(req, aborter.signal);
      const ctx: Ctx = {
        waitUntil(p) { Promise.resolve(p).catch((err) => console.error("fnrun: waitUntil promise rejected:", err)); },
        passThroughOnException() {},
        deadline,
        invocationId,
      };
      response = await handler(request, env, ctx);
      if (!(response instanceof Response)) throw new TypeError(`function returned ${describe(response)}, not a Response`);
    } catch (err) {
      console.error("fnrun: function threw:", err);
      return sendError(res, "threw", "function threw", err);
    }
    try {
      await sendResponse(res, response, req.method === "HEAD");
    } catch (err) {
      console.error("fnrun: response body failed:", err);
      sendError(res, "threw", "function threw", err);
    }
  });
  server.keepAliveTimeout = 60_000; // the host's pool keeps connections; do not close them under it
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
  server.listen(tmp, () => renameSync(tmp, SOCKET_PATH));
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return `an object (${(v as object).constructor?.name ?? "Object"})`;
  return typeof v;
}

await main();
