/**
 * @module gateway/request-limits
 * Hard limits on what a client may send to the public listener, checked before a request
 * is routed: the request target (no dot segments, NUL or over-long segments), the header
 * count, the declared body size, and the time a client may take to send its request.
 * Parser-level failures (header overflow, malformed framing, slow clients) arrive as node's
 * 'clientError' and are answered here too, through errors.ts.
 */
import type { Socket } from "node:net";
import { GatewayError, httpErrorFor } from "./errors.ts";

export interface RequestLimits {
  /** Largest request body, declared or streamed ([gateway] max_body). */
  maxBodyBytes: number;
  /** Largest request head (request line + headers); node's `maxHeaderSize`. Over it: 431. */
  maxHeaderBytes: number;
  /** Most header fields in a request. Over it: 431. */
  maxHeadersCount: number;
  /** Longest request target (path and query). */
  maxTargetBytes: number;
  /** Longest path segment, decoded (NAME_MAX of most filesystems). */
  maxSegmentBytes: number;
  /** A client must have sent its whole head within this (slowloris). Over it: 408. */
  headersTimeoutMs: number;
  /** ...and its whole request, body included, within this. Over it: 408. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often node sweeps connections for the two timeouts above (its default is 30 s). */
  timeoutCheckIntervalMs: number;
}

export const DEFAULT_LIMITS: Omit<RequestLimits, "maxBodyBytes"> = {
  maxHeaderBytes: 16 * 1024,
  maxHeadersCount: 100,
  maxTargetBytes: 4096,
  maxSegmentBytes: 255,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  timeoutCheckIntervalMs: 1_000,
};

/** Limits with defaults filled in; rejects unknown keys and values that are not positive whole numbers. */
export function resolveLimits(maxBodyBytes: number, given: Partial<RequestLimits> = {}): RequestLimits {
  const out: RequestLimits = { ...DEFAULT_LIMITS, maxBodyBytes };
  for (const [key, value] of Object.entries(given)) {
    if (!(key in out)) throw new TypeError(`createPublicServer: unknown limit \`${key}\``);
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) <= 0) throw new TypeError(`createPublicServer: limits.${key} must be a whole number > 0, got ${value}`);
    (out as unknown as Record<string, number>)[key] = value as number;
  }
  if (out.requestTimeoutMs < out.headersTimeoutMs) throw new TypeError("createPublicServer: limits.requestTimeoutMs must be ≥ limits.headersTimeoutMs");
  return out;
}

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;
const BACKSLASH = 92;
const UNDERSCORE = 95;
const PLATFORM_PREFIX = "/__fnrun";

/**
 * Why the request target `url` is refused (400), or null. Only origin-form targets are
 * served (RFC 9112 §3.2.1): absolute-form (`http://x/...`), authority-form and `*` are not.
 * A segment that is, or decodes to, `.` or `..` (also behind an encoded slash) is refused
 * rather than normalized, so no two spellings of a path reach different places.
 * The common case (no `%`, no `.`-only segment) is one pass over the characters.
 */
export function targetProblem(url: string, pathEnd: number, limits: RequestLimits): string | null {
  if (url.charCodeAt(0) !== SLASH) return "request target must be a path starting with /";
  if (url.length > limits.maxTargetBytes) return `request target longer than ${limits.maxTargetBytes} bytes`;
  // /__fnrun/ is the platform's (the bootstrap's load and scheduled endpoints): never routed to a function.
  if (url.charCodeAt(1) === UNDERSCORE && isPlatformPath(url, pathEnd)) return "paths under /__fnrun/ are reserved for fnrun";
  let segStart = 1;
  let encoded = false;
  for (let i = 1; i <= pathEnd; i++) {
    const c = i < pathEnd ? url.charCodeAt(i) : SLASH;
    if (c === PERCENT) encoded = true;
    else if (c === 0) return "NUL in path";
    else if (c === SLASH) {
      const len = i - segStart;
      if (len > limits.maxSegmentBytes) return `path segment longer than ${limits.maxSegmentBytes} bytes`;
      if (encoded || (len <= 2 && len > 0 && url.charCodeAt(segStart) === DOT)) {
        const problem = segmentProblem(url.slice(segStart, i));
        if (problem) return problem;
      }
      segStart = i + 1;
      encoded = false;
    } else if (c === BACKSLASH) encoded = true; // `..\` is a dot segment to some servers
  }
  return null;
}

/** `/__fnrun` or anything below it (the bootstrap matches these bytes exactly, so no decoding). */
function isPlatformPath(url: string, pathEnd: number): boolean {
  return url.startsWith(PLATFORM_PREFIX) && (pathEnd === PLATFORM_PREFIX.length || url.charCodeAt(PLATFORM_PREFIX.length) === SLASH);
}

function segmentProblem(seg: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(seg);
  } catch {
    return `malformed percent-encoding in \`${seg}\``;
  }
  if (decoded.includes("\0")) return "NUL in path";
  for (const part of decoded.split(/[/\\]/)) if (part === "." || part === "..") return "dot segment in path";
  return null;
}

/**
 * Answers a request that node's parser refused or timed out (its 'clientError'): 431 for a
 * head over maxHeaderBytes, 408 for a client too slow (headersTimeout, requestTimeout), 400
 * for malformed framing, conflicting Content-Length/Transfer-Encoding included (RFC 9112
 * §6.1: a server ought to treat such a message as an error). The socket is closed after.
 */
export function onClientError(err: Error & { code?: string }, socket: Socket): void {
  const res = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  // Nothing to answer on a socket that is gone, or whose response has already begun.
  if (err.code === "ECONNRESET" || !socket.writable || res?.headersSent) {
    socket.destroy();
    return;
  }
  const code = err.code === "HPE_HEADER_OVERFLOW" ? "FNRUN_HEADERS_TOO_LARGE"
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "FNRUN_REQUEST_TIMEOUT"
    : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? "FNRUN_BODY_TOO_LARGE"
    : "FNRUN_BAD_REQUEST";
  const message = code === "FNRUN_HEADERS_TOO_LARGE" ? "request head larger than the gateway accepts"
    : code === "FNRUN_REQUEST_TIMEOUT" ? "request not received in time"
    : `malformed request: ${err.message}`;
  const e = httpErrorFor(new GatewayError(code, message));
  const body = JSON.stringify(e.body);
  socket.write(`HTTP/1.1 ${e.status} ${e.body.error}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.destroySoon();
}
