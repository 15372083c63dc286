/**
 * @module gateway/console-assets
 * The web console's page: `GET /` and `GET /console/<file>` on the control listeners, from
 * the hand-written files in gateway/console/ (no build step). The page shell holds no data,
 * so it is served without the control token: it shows the login prompt, and every data
 * request it makes carries the token (remote-control.ts checks it).
 *
 * The files are read once, on the first request, into a map keyed by URL path: only a file
 * that is in that map can be served, so no request path reaches the file system. When fnrun
 * runs from its dist/ bundle the folder is found in the source tree beside it, as the
 * bootstrap's source is (runtime/bootstrap/build.ts).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Only this origin's own files, no inline script or style, no framing, no form posts:
 * log lines and function names are untrusted text, and even if one slipped into the DOM as
 * markup it could run nothing. connect-src 'self' keeps the token from being sent elsewhere.
 */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** gateway/console beside this file, or, from a dist/ bundle (chunk), in the source tree above it. */
export function consoleDir(): string {
  for (const rel of ["./console/", "../gateway/console/", "../../gateway/console/"]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(path, "index.html"))) return path;
  }
  throw Object.assign(new Error(`web console files gateway/console/ not found from ${import.meta.url}; run fnrun from its source tree`), { code: "FNRUN_CONSOLE_MISSING" });
}

let assets: Promise<Map<string, Asset>> | undefined;

async function load(dir: string): Promise<Map<string, Asset>> {
  const map = new Map<string, Asset>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const type = TYPES[extname(e.name)];
    if (!e.isFile() || !type) continue;
    const path = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const body = await readFile(path);
    const url = `/console/${relative(dir, path).split(sep).join("/")}`;
    map.set(url, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
  }
  const index = map.get("/console/index.html");
  if (index) map.set("/", index);
  return map;
}

/** The answer to a request for a console file, or null when `request` asks for something else. */
export async function consoleAsset(request: Request): Promise<Response | null> {
  const path = new URL(request.url).pathname;
  if (path !== "/" && !path.startsWith("/console/")) return null;
  if (request.method !== "GET" && request.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD", ...SECURITY_HEADERS } });
  assets ??= load(consoleDir()).catch((err) => {
    assets = undefined; // a later request tries again
    throw err;
  });
  const asset = (await assets).get(path);
  if (!asset) return new Response("not found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS } });
  // no-cache: the browser asks again each load (a 304 when unchanged), so an upgraded daemon's page is never stale.
  const headers = { "content-type": asset.type, "cache-control": "no-cache", etag: asset.etag, ...SECURITY_HEADERS };
  if (request.headers.get("if-none-match") === asset.etag) return new Response(null, { status: 304, headers });
  return new Response(request.method === "HEAD" ? null : new Uint8Array(asset.body), { headers });
}

type Fetch = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** `fetch` with the console's files answered first (`/`, `/console/…`); everything else passes on. */
export function withConsole<F extends Fetch>(fetch: F): F {
  return (async (request: Request, ...rest: unknown[]) => (await consoleAsset(request)) ?? fetch(request, ...rest)) as F;
}
