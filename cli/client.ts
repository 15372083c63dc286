/**
 * @module cli/client
 * The control API client: HTTP over the daemon's unix socket, nothing else. The CLI never
 * touches containers, images or state files itself. node:http rather than undici here:
 * undici takes ~130 ms to load, which every short CLI command would pay.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
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

export class ControlClient {
  readonly #socket: string;

  constructor(socketPath: string) {
    this.#socket = socketPath;
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
      const req = httpRequest({ socketPath: this.#socket, path, method, headers: { host: "fnrun", ...opts.headers } }, resolve);
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
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
