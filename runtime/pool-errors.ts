/**
 * @module runtime/pool-errors
 * Errors of the warm pool. The gateway maps each `code` to an HTTP status in one place.
 */

export type PoolErrorCode =
  | "FNRUN_FUNCTION_NOT_FOUND"
  | "FNRUN_QUEUE_FULL"
  | "FNRUN_POOL_CLOSED"
  | "FNRUN_AT_CAPACITY";

export class PoolError extends Error {
  override name = "PoolError";
  readonly kind = "system" as const;
  constructor(
    readonly code: PoolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const functionNotFound = (name: string) =>
  new PoolError("FNRUN_FUNCTION_NOT_FOUND", `function \`${name}\` is not deployed`);

export const queueFull = (name: string, size: number) =>
  new PoolError(
    "FNRUN_QUEUE_FULL",
    `function \`${name}\`: all instances are busy and ${size} requests already wait; retry shortly or raise max_instances`,
  );

export const poolClosed = (name: string, revision: string) =>
  new PoolError("FNRUN_POOL_CLOSED", `function \`${name}\` revision ${revision} is draining`);
