/**
 * @module cli/client
 * The control API client: HTTP over the daemon's unix socket (undici), nothing else. The
 * CLI never touches containers, images or state files itself.
 */
import { Agent, request, type Dispatcher } from "undici";

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
  readonly #agent: Agent;

  constructor(socketPath: string) {
    this.#socket = socketPath;
    this.#agent = new Agent({ connect: { socketPath } });
  }

  /** A JSON exchange; a daemon that cannot be reached is a CliError that says how to start it. */
  async json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<ApiResponse<T>> {
    const res = await this.raw(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { "content-type": "application/json" },
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    if ((res.headers["content-type"] ?? "").toString().includes("json")) parsed = JSON.parse(text);
    return { status: res.statusCode, body: parsed as T };
  }

  async raw(method: Dispatcher.HttpMethod, path: string, opts: { body?: Dispatcher.DispatchOptions["body"]; headers?: Record<string, string> } = {}) {
    try {
      return await request(`http://fnrun${path}`, { method, body: opts.body, headers: opts.headers, dispatcher: this.#agent });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ECONNREFUSED") {
        throw new CliError(`cannot reach the fnrun daemon at ${this.#socket} (${code}); start it with \`fnrun up\` (same --config), or pass the --config of the running one`);
      }
      if (code === "EACCES") throw new CliError(`permission denied on ${this.#socket}: the control socket is root-only (mode 0600); run the CLI as root`);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
