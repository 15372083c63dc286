/**
 * @module gateway/remote-control
 * The control API on TCP (`[control] listen`), for a CLI on another machine (`fnrun --host`).
 * Same API as the unix socket, behind a bearer token read from `[control] token_file`:
 * a request without `Authorization: Bearer <token>`, with a wrong one, or carrying the
 * token in its query string (where proxies and shells log it) gets 401. Tokens are compared
 * in constant time (over SHA-256 digests, so their lengths leak nothing either). The unix
 * socket needs no token: its 0600 mode is the check.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import type { Logger } from "./log.ts";

/** A shorter token is guessable; `openssl rand -hex 32` gives 64 characters. */
const MIN_TOKEN = 16;

export class ControlTokenError extends Error {
  override name = "ControlTokenError";
  readonly code = "FNRUN_CONTROL_TOKEN";
  readonly kind = "user";
}

/** The token in `file` (surrounding whitespace trimmed); a user error that says the fix when missing or too short. */
export async function readToken(file: string, log?: Logger): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ControlTokenError(`control.token_file \`${file}\`: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; create it with \`openssl rand -hex 32 > ${file} && chmod 600 ${file}\``, { cause: err });
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN || /\s/.test(token)) {
    throw new ControlTokenError(`control.token_file \`${file}\`: expected one token of at least ${MIN_TOKEN} characters without spaces; create one with \`openssl rand -hex 32 > ${file}\``);
  }
  const mode = (await stat(file)).mode & 0o077;
  if (mode !== 0 && log) log.warn(`control.token_file ${file} is readable by group or others; chmod 600 it`);
  return token;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Whether `request` carries exactly `token` as a bearer token, and nowhere in its URL. */
export function authorized(request: Request, token: string): boolean {
  const url = new URL(request.url);
  if (url.search !== "") {
    // Any token-looking parameter, or the token itself anywhere in the query: refused even with a good header.
    for (const [k, v] of url.searchParams) if (/^(access_)?token$/i.test(k) || v.includes(token)) return false;
    if (url.search.includes(token)) return false;
  }
  const header = request.headers.get("authorization") ?? "";
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]), digest(token));
}

type Fetch = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** `fetch` behind the bearer token check. */
export function requireToken<F extends Fetch>(fetch: F, token: string): F {
  return ((request: Request, ...rest: unknown[]) => {
    if (!authorized(request, token)) {
      return new Response(JSON.stringify({ error: "unauthorized", code: "FNRUN_UNAUTHORIZED", message: "send the control token as `Authorization: Bearer <token>` (never in the URL); the CLI does with --host URL --token-file FILE" }), {
        status: 401,
        headers: { "content-type": "application/json", "www-authenticate": 'Bearer realm="fnrun"' },
      });
    }
    return fetch(request, ...rest);
  }) as F;
}

export interface RemoteControl {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `fetch` (the control API with /metrics) on `listen`, behind the token of `tokenFile`.
 * `open` may answer a request first, without the token: the web console's page shell, which
 * holds no data (console-assets.ts); it returns null for everything else.
 */
export async function startRemoteControl(opts: { listen: { host: string; port: number }; tokenFile: string; fetch: Fetch; open?: (request: Request) => Promise<Response | null>; log?: Logger }): Promise<RemoteControl> {
  const token = await readToken(opts.tokenFile, opts.log);
  const guarded = requireToken(opts.fetch, token);
  const open = opts.open;
  const fetch: Fetch = open ? async (request, ...rest) => (await open(request)) ?? guarded(request, ...rest) : guarded;
  const server = createAdaptorServer({ fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.listen.port, opts.listen.host, () => resolve());
  }).catch((err) => {
    throw Object.assign(new Error(`control: cannot listen on ${opts.listen.host}:${opts.listen.port}: ${(err as Error).message}; set [control] listen to a free address`), { code: "FNRUN_LISTEN", kind: "user" });
  });
  const addr = server.address() as { address: string; port: number };
  return {
    url: `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // followed logs would hold it open
      }),
  };
}
