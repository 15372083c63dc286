/**
 * @module runtime/bootstrap/listener
 * Where the bootstrap listens. The rule (runtime/README.md): FNRUN_SOCKET_DIR set (fnrun's
 * runtime always sets it) → the unix socket `<dir>/fn.sock`, whatever else the env holds, so a
 * function's own PORT never moves an fnrun instance to TCP; otherwise TCP `0.0.0.0:$PORT`,
 * PORT defaulting to 8080 (the Knative / Cloud Run convention, and the image's EXPOSE).
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { renameSync, unlinkSync } from "node:fs";

export const SOCKET_NAME = "fn.sock";
/**
 * Written beside the socket, before it appears, when the function failed to import at boot:
 * the host reads it instead of asking over HTTP (runtime/instance.ts), because a request right
 * after boot often waits for the next CFS period of a container that spent its CPU quota booting.
 */
export const INIT_ERROR_NAME = "fn.init-error";
export const DEFAULT_PORT = 8080;

export type ListenTarget = { kind: "socket"; dir: string } | { kind: "tcp"; port: number };

/** The listen target from the env; throws a message naming the variable for a bad PORT. */
export function listenTarget(env: NodeJS.ProcessEnv): ListenTarget {
  if (env.FNRUN_SOCKET_DIR) return { kind: "socket", dir: env.FNRUN_SOCKET_DIR };
  const raw = env.PORT;
  if (raw === undefined || raw === "") return { kind: "tcp", port: DEFAULT_PORT };
  const port = /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  // 0 (any free port) is allowed: the log line says which one was taken.
  if (!(port >= 0 && port <= 65535)) throw new RangeError(`PORT must be a TCP port number (0-65535), got "${raw}": set PORT=8080 or leave it unset`);
  return { kind: "tcp", port };
}

/**
 * Listens on `<dir>/fn.sock`: first on a temporary name, then renamed, because the host
 * treats the socket's existence as "ready" and between bind(2) and listen(2) a connect would
 * be refused. `beforePublish` runs on the temporary name (the stem cell's warm-up).
 */
export function listenOnSocket(server: Server, dir: string, beforePublish?: (tmpPath: string) => Promise<void>): Promise<string> {
  const path = `${dir}/${SOCKET_NAME}`;
  const tmp = `${path}.${process.pid}.tmp`;
  for (const p of [tmp, path]) {
    try {
      unlinkSync(p);
    } catch {}
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(tmp, async () => {
      server.off("error", reject);
      if (beforePublish) await beforePublish(tmp);
      renameSync(tmp, path);
      resolve(path);
    });
  });
}

/** Listens on TCP 0.0.0.0:port; resolves with the port taken. */
export function listenOnTcp(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "0.0.0.0", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
