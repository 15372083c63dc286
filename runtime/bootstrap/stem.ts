/**
 * @module runtime/bootstrap/stem
 * fnrun's load endpoint, `/__fnrun/load`, and the stem cell's warm-up. A stem cell listens
 * with no function and accepts exactly one `POST /__fnrun/load {entry, env, timeoutMs}` from
 * the runtime, which imports the bundle; every instance answers `GET /__fnrun/load` with its
 * state (the host's check that a cold start's import worked) and a later POST with 409.
 *
 * Requests that arrive while the import runs wait for it (socket-mode.ts): the runtime sends a
 * stem's first request right behind the load instead of after its answer, so the import and
 * that request's way in overlap (runtime/README.md). That request goes over a connection of its
 * own and can even arrive before the load: it waits too when the bundle is in place already
 * (the runtime puts it there before sending either). A GET of the state waits as well.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { existsSync, unlinkSync, writeFileSync } from "node:fs";
import { loadFunction, messageOf, type Env, type Handler, type LoadedFunction, type ScheduledHandler } from "./function-module.ts";
import { sendJson, type FunctionSlot } from "./request-path.ts";
import { warmNodeFetchClasses } from "./web/globals.ts";
import { SHIM_BANNER } from "../../builder/bundle-banner.ts";
import { STEM_ENTRY } from "../../builder/image-paths.ts";
import { LOAD_PATH } from "./reserved-paths.ts";

const MAX_LOAD_BODY = 1024 * 1024;
/** The longest a request waits for a load (the runtime's own import timeout is 10 s by default). */
const LOAD_WAIT_MS = 15_000;

/** A socket-mode instance: the function slot, its scheduled(), and where it is in its life. */
export interface InstanceState extends FunctionSlot {
  scheduled: ScheduledHandler | undefined;
  /** "stem": no function yet (load accepted); "loading": the one load is running; "loaded": for good. */
  phase: "stem" | "loading" | "loaded";
  /** While true, requests come from the stem's own warm-up (the socket is not published yet). */
  warming: boolean;
  /** Specializations the warm-up rehearsed to the end (rehearse()); told in `GET /__fnrun/load` when any (stem cells only). */
  rehearsals: number;
  /** Settles when the current load attempt (or the next one) has, whatever its outcome. */
  loadAttempt: Promise<void>;
  endLoadAttempt: () => void;
}

/** A socket-mode instance before anything is loaded. */
export function newInstanceState(): InstanceState {
  const state = { handler: undefined, initError: undefined, scheduled: undefined, phase: "stem", warming: false, rehearsals: 0 } as Omit<InstanceState, "loadAttempt" | "endLoadAttempt"> as InstanceState;
  nextLoadAttempt(state);
  return state;
}

function nextLoadAttempt(state: InstanceState): void {
  state.loadAttempt = new Promise<void>((resolve) => (state.endLoadAttempt = resolve));
}

/** Ends the current load attempt: whoever waited for it goes on (and sees the phase it left). */
function endLoadAttempt(state: InstanceState): void {
  const end = state.endLoadAttempt;
  nextLoadAttempt(state);
  end();
}

/**
 * Whether a request must wait for a load before it is served: one is running, or none has
 * arrived yet but the runtime has put the bundle in place, so one is on its way.
 */
export function awaitsLoad(state: InstanceState): boolean {
  if (state.phase === "loading") return true;
  return state.phase === "stem" && !state.warming && existsSync(STEM_ENTRY);
}

/** Resolves when the awaited load attempt has ended, or after LOAD_WAIT_MS (then the request is answered as the phase says). */
export function untilLoadEnds(state: InstanceState): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, LOAD_WAIT_MS);
    void state.loadAttempt.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Puts a loaded function (or why it failed) into the state, for good. */
export function settle(state: InstanceState, loaded: LoadedFunction | undefined, err: unknown): void {
  state.handler = loaded?.fetch;
  state.scheduled = loaded?.scheduled;
  state.initError = err;
  state.phase = "loaded";
}

interface LoadRequest {
  entry: string;
  env: Env;
  /** How long the import may take; past it the load fails as an init error (the runtime then stops the instance). */
  timeoutMs?: number;
}

/**
 * The load request can come whole in this header (base64 of its JSON), as the runtime sends it
 * when it is small: a request body is read in a few event-loop turns more, a stem start waits
 * for them. A large one comes as the body.
 */
export const LOAD_HEADER = "x-fnrun-load";
/** The socket server's header limit: a load request in LOAD_HEADER up to MAX_LOAD_BODY, base64'd. */
export const SOCKET_MAX_HEADER_BYTES = Math.ceil((MAX_LOAD_BODY * 4) / 3) + 16 * 1024;

/** The stem cell's load request: `{ entry, env, timeoutMs? }`, validated (it comes from the runtime, but a bug there must not half-load). */
async function readLoadRequest(req: IncomingMessage): Promise<LoadRequest> {
  const inHeader = req.headers[LOAD_HEADER];
  let text: string;
  if (typeof inHeader === "string") {
    req.resume();
    text = Buffer.from(inHeader, "base64").toString("utf8");
  } else text = await readSmallBody(req);
  const body = JSON.parse(text) as { entry?: unknown; env?: unknown; timeoutMs?: unknown };
  if (typeof body.entry !== "string" || !body.entry.startsWith("/")) throw new TypeError("load request: `entry` must be an absolute path");
  if (body.timeoutMs !== undefined && !(typeof body.timeoutMs === "number" && body.timeoutMs > 0)) throw new TypeError("load request: `timeoutMs` must be a positive number");
  const env: Env = {};
  if (body.env !== undefined) {
    if (typeof body.env !== "object" || body.env === null || Array.isArray(body.env)) throw new TypeError("load request: `env` must be an object");
    for (const [k, v] of Object.entries(body.env)) {
      if (typeof v !== "string") throw new TypeError(`load request: env \`${k}\` must be a string`);
      env[k] = v;
    }
  }
  return { entry: body.entry, env, timeoutMs: body.timeoutMs as number | undefined };
}

/** The import, failing with the runtime's words when it takes longer than `timeoutMs`. */
function importWithin(entry: string, timeoutMs: number | undefined): Promise<LoadedFunction> {
  if (timeoutMs === undefined) return loadFunction(entry);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the bundle did not finish importing within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([loadFunction(entry), late]).finally(() => clearTimeout(timer));
}

/** A request body of at most MAX_LOAD_BODY bytes as text (events, not `for await`: a stem start waits for it). */
function readSmallBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_LOAD_BODY) {
        req.destroy();
        reject(new TypeError(`load request larger than ${MAX_LOAD_BODY} bytes`));
      } else chunks.push(c);
    });
    req.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

/** `/__fnrun/load`: GET the state; POST specializes a stem cell (the function's env into process.env and `env`, then the import). */
export async function handleLoad(state: InstanceState, env: Env, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (state.warming) {
    await readLoadRequest(req);
    return sendJson(res, 200, { ok: true, loadMs: 0 });
  }
  if (req.method === "GET") {
    req.resume();
    if (awaitsLoad(state)) await untilLoadEnds(state);
    return sendJson(res, 200, { phase: state.phase, ok: state.handler !== undefined, hasScheduled: state.scheduled !== undefined, rehearsals: state.rehearsals || undefined, error: state.handler || state.phase !== "loaded" ? undefined : messageOf(state.initError) });
  }
  if (state.phase !== "stem" || req.method !== "POST") {
    return sendJson(res, 409, { error: "a function is already loaded", message: "an instance never serves another function" }, "loaded");
  }
  state.phase = "loading"; // synchronously: a second load arriving meanwhile is refused
  let request: LoadRequest;
  try {
    request = await readLoadRequest(req);
  } catch (err) {
    state.phase = "stem"; // nothing was loaded: a corrected request may follow
    endLoadAttempt(state); // requests that waited get the stem's 503
    return sendJson(res, 400, { error: "bad load request", message: messageOf(err) }, "load");
  }
  for (const [k, v] of Object.entries(request.env)) {
    process.env[k] = v;
    env[k] = v;
  }
  const t0 = performance.now();
  let loaded: LoadedFunction | undefined;
  let initError: unknown;
  try {
    loaded = await importWithin(request.entry, request.timeoutMs);
  } catch (err) {
    initError = err;
    console.error(`fnrun: function failed to initialize: ${request.entry}:`, err);
  }
  settle(state, loaded, initError);
  const loadMs = Math.round((performance.now() - t0) * 1000) / 1000;
  if (loaded) sendJson(res, 200, { ok: true, loadMs });
  else sendJson(res, 500, { error: "function failed to initialize", message: messageOf(initError), loadMs }, "init");
  endLoadAttempt(state); // after the answer: the runtime learns the outcome no later than a waiting request
}

/** What the stem cell's warm-up requests are served by: a body round trip through every step a function's request takes. */
const WARM_HANDLER: Handler = (request) =>
  request.body ? new Response(request.body, { headers: { "content-type": "application/octet-stream" } }) : new Response("warm");

/**
 * A stem cell has time now and none later: while still on its temporary socket name, it runs
 * a function's request path (HTTP parser, the light Request and Response, a streamed body both
 * ways) and the load request's parsing twice, loads node's own fetch classes (what fetch(),
 * FormData or a function's own `new Request()` use: ~50 ms of CPU a cold start does not pay
 * unless its function needs them), then rehearses its specialization, so that no step of a
 * stem start is also that code's first run.
 */
export async function warmUp(state: InstanceState, tmpSocket: string): Promise<void> {
  state.warming = true;
  state.handler = WARM_HANDLER;
  try {
    for (let i = 0; i < 2; i++) {
      // The load as the runtime sends it (in a header), and as a body.
      const load = JSON.stringify({ entry: "/warm.mjs", env: { WARM: "1" }, timeoutMs: 1000 });
      if (i === 0) await selfRequest(tmpSocket, "POST", LOAD_PATH, undefined, { [LOAD_HEADER]: Buffer.from(load).toString("base64") });
      else await selfRequest(tmpSocket, "POST", LOAD_PATH, load);
      await selfRequest(tmpSocket, "GET", "/warm");
      await selfRequest(tmpSocket, "POST", "/warm", "warm ".repeat(64));
    }
    warmNodeFetchClasses();
  } catch (err) {
    console.error("fnrun: stem warm-up failed (serving anyway):", err);
  } finally {
    state.warming = false;
    state.handler = undefined;
  }
  for (let i = 0; i < REHEARSALS; i++) {
    try {
      await rehearse(state, tmpSocket, i);
    } catch (err) {
      console.error("fnrun: stem rehearsal failed (serving anyway):", err);
      break;
    }
  }
}

/**
 * How many specializations a stem cell rehearses. One took a stem start's import from 2.33 to
 * 1.73 ms, and the answer to its first request from 6.11 to 5.15 ms after the specialization
 * began (host harness, 14 rounds, medians); three or six measured the same as one, two leave
 * room for the first to compile what the second then runs.
 */
const REHEARSALS = 2;

/**
 * One specialization as the runtime drives it, through the real load path (handleLoad, the
 * import, settle, the load attempt a waiting request is released by), on connections of its
 * own: `POST /__fnrun/load` of a throwaway module that starts as a bundle does (its banner's
 * built-in modules get their ESM facades now, once per process), a request sent beside it that
 * waits for the import, one after. Warming-mode requests skip all of that, and the first run of
 * a function costs several times its later ones (lazy compilation, inline caches still empty).
 * Afterwards the state is a stem cell's again: no function, no env, the module's file gone.
 */
async function rehearse(state: InstanceState, tmpSocket: string, n: number): Promise<void> {
  const file = `/tmp/.fnrun-rehearsal-${process.pid}-${n}.mjs`;
  writeFileSync(file, `${SHIM_BANNER}\nexport default { async fetch(request) { return new Response(new URL(request.url).pathname + __fnrun_dirname); } };\n`);
  try {
    const load = Buffer.from(JSON.stringify({ entry: file, env: {}, timeoutMs: LOAD_WAIT_MS })).toString("base64");
    await Promise.all([selfRequest(tmpSocket, "POST", LOAD_PATH, undefined, { [LOAD_HEADER]: load }), selfRequest(tmpSocket, "GET", "/rehearsal/waiting")]);
    await selfRequest(tmpSocket, "GET", "/rehearsal/loaded");
    if (state.initError !== undefined || state.handler === undefined) throw new Error(`the rehearsal's module did not load: ${messageOf(state.initError)}`);
    state.rehearsals++;
  } finally {
    unlinkSync(file);
    state.phase = "stem";
    state.handler = undefined;
    state.scheduled = undefined;
    state.initError = undefined;
  }
}

/** One request to our own (not yet published) socket, its response read to the end. */
function selfRequest(socketPath: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, method, path, agent: false, headers: body ? { "content-type": "application/json", ...headers } : headers }, (res) => {
      res.on("error", reject);
      res.on("end", resolve);
      res.resume();
    });
    req.on("error", reject);
    req.end(body);
  });
}
