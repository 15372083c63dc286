/**
 * @module cli/client
 * The control API client: HTTP over the daemon's unix socket, or over TCP to a daemon's
 * `[control] listen` with a bearer token (`--host`, `--token-file`). The CLI never
 * touches containers, images or state files itself. node:http rather than undici here:
 * undici takes ~130 ms to load, which every short CLI command would pay.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import type { Readable } from "node:stream";

export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

/** A daemon's TCP control listener and its token. */
export interface RemoteDaemon {
  url: string;
  token: string;
}

export class ControlClient {
  readonly #socket: string;
  readonly #remote: RemoteDaemon | undefined;

  constructor(target: string | RemoteDaemon) {
    this.#socket = typeof target === "string" ? target : target.url;
    this.#remote = typeof target === "string" ? undefined : target;
  }

  /** A JSON exchange; a daemon that cannot be reached is a CliError that says how to start it. */
  async json<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    const res = await this.raw(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { "content-type": "application/json" },
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const parsed: unknown = String(res.headers["content-type"] ?? "").includes("json") ? JSON.parse(text) : text;
    return { status: res.statusCode ?? 0, body: parsed as T };
  }

  /** One request; the answer's body is left to the caller to stream. */
  raw(method: string, path: string, opts: { body?: string | Buffer | Readable; headers?: Record<string, string> } = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const remote = this.#remote;
      const target: RequestOptions = remote
        ? { host: new URL(remote.url).hostname.replace(/^\[|\]$/g, ""), port: new URL(remote.url).port || 80, headers: { authorization: `Bearer ${remote.token}`, ...opts.headers } }
        : { socketPath: this.#socket, headers: { host: "fnrun", ...opts.headers } };
      const req = httpRequest({ ...target, path, method }, (res) => {
        if (remote && res.statusCode === 401) {
          res.resume();
          reject(new CliError(`the fnrun daemon at ${remote.url} refused the token (401); pass the daemon's [control] token_file with --token-file FILE (or FNRUN_TOKEN)`));
        } else resolve(res);
      });
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (remote && (err.code === "ECONNREFUSED" || err.code === "ENOTFOUND" || err.code === "EHOSTUNREACH" || err.code === "ETIMEDOUT")) {
          reject(new CliError(`cannot reach the fnrun daemon at ${remote.url} (${err.code}); check --host (FNRUN_HOST) and the daemon's [control] listen`));
        } else if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
          reject(new CliError(`cannot reach the fnrun daemon at ${this.#socket} (${err.code}); start it with \`fnrun up\` (same --config), or pass the --config of the running one`));
        } else if (err.code === "EACCES") {
          reject(new CliError(`permission denied on ${this.#socket}: the control socket is root-only (mode 0600); run the CLI as root`));
        } else reject(err);
      });
      const body = opts.body;
      if (body === undefined) req.end();
      else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
