/**
 * @module gateway/errors
 * Errors of the gateway, and the one place where any error becomes an HTTP answer
 * (hono's errorHandler): not found → 404, over capacity → 429/503, timeout → 504,
 * function crash or failure to start → 502 with a JSON body that says which. What a client
 * may not send: 400 (malformed), 408 (too slow), 413 (body), 431 (headers).
 */

export type GatewayErrorCode =
  | "FNRUN_ROUTE_NOT_FOUND"
  | "FNRUN_BAD_REQUEST"
  | "FNRUN_BODY_TOO_LARGE"
  | "FNRUN_HEADERS_TOO_LARGE"
  | "FNRUN_REQUEST_TIMEOUT"
  | "FNRUN_TIMEOUT"
  | "FNRUN_FUNCTION_CRASHED"
  | "FNRUN_FUNCTION_OOM";

export class GatewayError extends Error {
  override name = "GatewayError";
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly kind: "user" | "system" = "user",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface HttpError {
  status: number;
  body: { error: string; code: string; message: string };
  headers?: Record<string, string>;
}

const STATUS: Record<string, [number, string]> = {
  FNRUN_ROUTE_NOT_FOUND: [404, "not found"],
  FNRUN_FUNCTION_NOT_FOUND: [404, "function not found"],
  FNRUN_BAD_REQUEST: [400, "bad request"],
  FNRUN_BODY_TOO_LARGE: [413, "request body too large"],
  FNRUN_HEADERS_TOO_LARGE: [431, "request header fields too large"],
  FNRUN_REQUEST_TIMEOUT: [408, "request timeout"],
  FNRUN_EXPORT_INVALID: [400, "cannot export"],
  FNRUN_QUEUE_FULL: [429, "too many requests"],
  FNRUN_AT_CAPACITY: [503, "host at capacity"],
  FNRUN_POOL_CLOSED: [503, "function is being replaced"],
  FNRUN_TIMEOUT: [504, "function timed out"],
  FNRUN_FUNCTION_CRASHED: [502, "function crashed"],
  FNRUN_FUNCTION_OOM: [502, "function ran out of memory"],
  FNRUN_FUNCTION_INIT: [502, "function failed to initialize"],
  FNRUN_SPECIALIZE: [502, "function failed to start"],
  FNRUN_INSTANCE_EXITED: [502, "function failed to start"],
  FNRUN_INSTANCE_START_TIMEOUT: [502, "function failed to start"],
  FNRUN_RUNC_FAILED: [502, "function failed to start"],
  FNRUN_RUNC_MISSING: [502, "function failed to start"],
};

/** The HTTP answer for any error thrown while serving a request. */
export function httpErrorFor(err: unknown): HttpError {
  const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "FNRUN_INTERNAL";
  const message = err instanceof Error ? err.message : String(err);
  const [status, error] = STATUS[code] ?? [500, "internal error"];
  const headers: Record<string, string> | undefined = status === 429 || status === 503 ? { "retry-after": "1" } : undefined;
  return { status, body: { error, code, message }, headers };
}
