/**
 * @module gateway/idle-connections
 * Closes client connections that stay idle past the keep-alive timeout, by a sweep, in place
 * of node's own keep-alive timer. node re-arms that timer after every response and clears it
 * at the next request (a bound function, a Timeout and two timer-list updates a request):
 * measured in the proxy floor's process, alternating every 500 ms, ~5% of its CPU a request,
 * and ~10% of the gateway's. The sweep looks at each connection once per interval instead.
 *
 * The rule is node's: a connection with no response in progress that has read and written
 * nothing for `idleMs` is destroyed (node's timer too is an inactivity timer, refreshed by every read and
 * write). A request still arriving, waiting for an instance or being answered keeps it open;
 * the slow-client limits (headersTimeout, requestTimeout) stay node's.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";

/** A connection's traffic at the last sweep that saw it move, and when that was. */
interface Activity {
  bytes: number;
  since: number;
}

/** node's own field: the response being written on the connection (null between requests). */
type HttpSocket = Socket & { _httpMessage?: unknown };

/**
 * Sweeps `server`'s connections every `idleMs / 5` (at most every second, at least every
 * 50 ms), so an idle one closes between `idleMs` and `idleMs` + one interval after its last
 * byte. The server must not use node's own timer as well: set `server.keepAliveTimeout = 0`.
 * Stops when the server closes.
 */
export function closeIdleConnections(server: Server, idleMs: number): void {
  const open = new Map<HttpSocket, Activity>();
  server.on("connection", (socket: HttpSocket) => {
    open.set(socket, { bytes: 0, since: performance.now() });
    socket.once("close", () => open.delete(socket));
  });
  const every = Math.max(50, Math.min(1000, Math.floor(idleMs / 5)));
  const timer = setInterval(() => {
    const now = performance.now();
    for (const [socket, seen] of open) {
      const bytes = socket.bytesRead + socket.bytesWritten;
      if (socket._httpMessage || bytes !== seen.bytes) {
        seen.bytes = bytes;
        seen.since = now;
      } else if (now - seen.since >= idleMs) socket.destroy();
    }
  }, every);
  timer.unref();
  server.once("close", () => clearInterval(timer));
}
