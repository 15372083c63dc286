/**
 * @module runtime/bootstrap/socket-mode
 * The bootstrap under fnrun's runtime: HTTP/1.1 on `<FNRUN_SOCKET_DIR>/fn.sock`, for the
 * daemon's gateway only. The socket appears only after the import, so its existence means
 * "ready" to the host. The gateway owns timeouts, dates answers, strips x-fnrun-error and
 * keeps connections; lines written during an invocation carry its id for the daemon's log.
 *
 * Without FNRUN_ENTRY it is a stem cell (stem.ts): every request but the load gets 503
 * `x-fnrun-error: stem` until one `POST /__fnrun/load`; those arriving while it imports wait.
 */
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { runTagged, tagStdioWhenUsed } from "./console-tag.ts";
import { functionEnv, loadFunction, messageOf, type LoadedFunction } from "./function-module.ts";
import { INIT_ERROR_NAME, listenOnSocket } from "./listener.ts";
import { takePlatformHeaders } from "./platform-headers.ts";
import { createFunctionListener, kPlatform, sendJson, type PlatformRequest } from "./request-path.ts";
import { LOAD_PATH, SCHEDULED_PATH } from "./reserved-paths.ts";
import { handleScheduled } from "./scheduled-endpoint.ts";
import { awaitsLoad, handleLoad, newInstanceState, settle, SOCKET_MAX_HEADER_BYTES, untilLoadEnds, warmUp } from "./stem.ts";

export async function serveOnSocket(socketDir: string, entry: string | undefined): Promise<void> {
  // Lines written during an invocation carry its id (console-tag.ts), also under concurrency.
  tagStdioWhenUsed();
  // The runtime stops an instance with SIGKILL and owns every connection: nothing to drain.
  // (pid 1 of a pid namespace gets no default handlers: without these it would ignore them.)
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));

  const env = functionEnv();
  const state = newInstanceState();
  if (entry) {
    let loaded: LoadedFunction | undefined;
    let initError: unknown;
    try {
      loaded = await loadFunction(entry);
    } catch (err) {
      initError = err;
      console.error(`fnrun: function failed to initialize: ${entry}:`, err);
      writeFileSync(`${socketDir}/${INIT_ERROR_NAME}`, messageOf(err).slice(0, 4096));
    }
    settle(state, loaded, initError);
  }

  const serveFunction = createFunctionListener({ slot: state, env });
  const serve = (req: IncomingMessage, res: ServerResponse, url: string): void => {
    if (state.phase !== "loaded" && !state.warming) return sendJson(res, 503, { error: "no function loaded", message: "this instance is a stem cell" }, "stem");
    const platform = ((req as PlatformRequest)[kPlatform] = takePlatformHeaders(req));
    if (url === SCHEDULED_PATH) return void runTagged(platform.invocationId, () => handleScheduled(state, env, req, res, platform));
    return void runTagged(platform.invocationId, () => serveFunction(req, res));
  };
  const server = createServer({ maxHeaderSize: SOCKET_MAX_HEADER_BYTES }, (req, res) => {
    // The gateway's own listener dates the answer; one header fewer to write, parse and copy here.
    res.sendDate = false;
    const url = req.url ?? "/";
    if (url === LOAD_PATH || url.startsWith(`${LOAD_PATH}?`)) return void handleLoad(state, env, req, res);
    // A stem's first request, sent while its bundle imports: it waits (its body stays unread in the socket).
    if (state.phase !== "loaded" && awaitsLoad(state)) return void untilLoadEnds(state).then(() => serve(req, res, url));
    serve(req, res, url);
  });
  // The host's pool owns connections and closes idle ones itself: never close one under it. (0 also
  // drops the per-response `Keep-Alive: timeout=` header, which the host would parse and discard.)
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0; // the gateway owns timeouts (the deadline in x-fnrun-ctx)
  await listenOnSocket(server, socketDir, state.phase === "stem" ? (tmp) => warmUp(state, tmp) : undefined);
}
