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

const MiB = 1024 * 1024;

export const atCapacity = (name: string, bytes: number, budget: { total: number; used: number }) =>
  new PoolError(
    "FNRUN_AT_CAPACITY",
    `host at capacity: function \`${name}\` needs ${Math.round(bytes / MiB)} MiB but ${Math.round(budget.used / MiB)} MiB of the ${Math.round(budget.total / MiB)} MiB memory budget are held by busy instances; retry shortly, or raise [pool] memory_budget`,
  );

export const poolClosed = (name: string, revision: string) =>
  new PoolError("FNRUN_POOL_CLOSED", `function \`${name}\` revision ${revision} is draining`);

export const shuttingDown = () => new PoolError("FNRUN_POOL_CLOSED", "the pool is shutting down: a container start that had not begun was called off");
