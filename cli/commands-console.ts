/**
 * @module cli/commands-console
 * `fnrun console [--port N]`: the daemon's web console on a loopback port, for a browser on
 * this machine. It is a proxy to the control API (the unix socket, or `--host` with its
 * token), so it serves exactly the page and data the daemon does.
 *
 * The control socket is root-only (0600); a loopback port is open to every local user. So
 * the proxy does not widen access: it makes a fresh random token, prints it in the URL's
 * fragment (`#token=…`, which a browser never sends to a server, so no log keeps it; the
 * page moves it into sessionStorage and out of the address bar), and answers data requests
 * only with `Authorization: Bearer <that token>`. It passes on only what the console uses
 * (the page, the overview, logs, job history, running a job), and only for a Host header
 * naming this port, so a DNS-rebinding page gets nothing either.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { CliError, type ControlClient } from "./client.ts";
import { failIfError, withClient, type Command } from "./command-kit.ts";

export const CONSOLE_USAGE = "Usage: fnrun console [--port N] [--config PATH | --host URL --token-file FILE]";

/** What the console asks of the daemon; `token: false` only for the page shell, which holds no data. */
const ROUTES: ReadonlyArray<{ methods: readonly string[]; path: RegExp; token: boolean }> = [
  { methods: ["GET", "HEAD"], path: /^\/(console\/[\w./-]*)?$/, token: false },
  { methods: ["GET"], path: /^\/v1\/overview$/, token: true },
  { methods: ["GET"], path: /^\/v1\/deploys$/, token: true },
  { methods: ["GET"], path: /^\/v1\/functions\/[^/]+\/logs$/, token: true },
  { methods: ["GET"], path: /^\/v1\/jobs\/[^/]+$/, token: true },
  { methods: ["POST"], path: /^\/v1\/jobs\/[^/]+\/run$/, token: true },
];

/** Headers of the daemon's answer that are not passed on (RFC 9110 §7.6.1: connection-specific). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

export const consoleCommand: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const port = parsePort(ctx.values.port as string | undefined);
    // Fail now, with the CLI's usual message, when no daemon answers.
    const health = await client.json<unknown>("GET", "/v1/health");
    failIfError(health.status, health.body);

    const token = randomBytes(32).toString("base64url");
    const proxy = new ConsoleProxy(client, token);
    const server = createServer((req, res) => proxy.handle(req, res));
    await listen(server, port);
    proxy.port = (server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${proxy.port}/#token=${token}`;
    if (ctx.json) ctx.out(JSON.stringify({ url }) + "\n");
    else {
      ctx.out(`${url}\n`);
      process.stderr.write(`fnrun console: open the URL above; it carries a token made for this run (whoever has it can use the console). Ctrl-C stops it.\n`);
    }

    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        server.close(() => resolve());
        server.closeAllConnections(); // followed logs never end by themselves
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    return 0;
  });

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 65535) throw new CliError(`--port: expected a port number from 1 to 65535, got "${raw}"\n\n${CONSOLE_USAGE}`, 2);
  return n;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new CliError(`--port ${port}: cannot listen on 127.0.0.1:${port} (${err.code ?? err.message}); pick another port, or leave out --port for a free one`)),
    );
    server.listen(port, "127.0.0.1", () => resolve());
  });
}

const digest = (s: string) => createHash("sha256").update(s).digest();

class ConsoleProxy {
  port = 0;
  readonly #client: ControlClient;
  readonly #digest: Buffer;

  constructor(client: ControlClient, token: string) {
    this.#client = client;
    this.#digest = digest(token);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const host = req.headers.host ?? "";
    if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`) return refuse(res, 421, "misdirected request", `this console answers only for http://127.0.0.1:${this.port}`);
    const url = new URL(req.url ?? "/", "http://console");
    const route = ROUTES.find((r) => r.path.test(url.pathname));
    if (!route) return refuse(res, 404, "not found", `the console does not serve ${url.pathname}`);
    if (!route.methods.includes(req.method ?? "")) return refuse(res, 405, "method not allowed", `${req.method} ${url.pathname}`);
    if (route.token && !this.#authorized(req)) {
      return refuse(res, 401, "unauthorized", "send the token of the URL `fnrun console` printed as `Authorization: Bearer <token>`", { "www-authenticate": 'Bearer realm="fnrun console"' });
    }
    void this.#forward(req, res, url.pathname + url.search);
  }

  #authorized(req: IncomingMessage): boolean {
    const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(req.headers.authorization ?? "");
    return m !== null && timingSafeEqual(digest(m[1]), this.#digest);
  }

  async #forward(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    // Only these request headers go on: never the browser's Authorization (the daemon's own token, if any, is the client's).
    const headers: Record<string, string> = {};
    for (const name of ["accept", "if-none-match"]) if (typeof req.headers[name] === "string") headers[name] = req.headers[name] as string;
    let upstream: IncomingMessage;
    try {
      upstream = await this.#client.raw(req.method!, path, { headers });
    } catch (err) {
      return refuse(res, 502, "daemon unreachable", (err as Error).message);
    }
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    res.writeHead(upstream.statusCode ?? 502, out);
    // A followed log never ends: when the browser leaves, so does the daemon's stream.
    res.once("close", () => upstream.destroy());
    upstream.pipe(res);
  }
}

function refuse(res: ServerResponse, status: number, error: string, message: string, extra: Record<string, string> = {}): void {
  const body = JSON.stringify({ error, code: status === 401 ? "FNRUN_UNAUTHORIZED" : "FNRUN_CONSOLE", message });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store", "x-content-type-options": "nosniff", ...extra });
  res.end(body);
}
