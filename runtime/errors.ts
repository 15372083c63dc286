/**
 * @module runtime/errors
 * Errors of the runtime layer. Each has a stable `code` and a `kind`: "user" errors are
 * fixed by the operator or the function author (print the message, no stack), "system"
 * errors are fnrun's or the machine's fault.
 */

export type RuntimeErrorCode =
  | "FNRUN_RUNC_MISSING"
  | "FNRUN_RUNC_FAILED"
  | "FNRUN_INSTANCE_START_TIMEOUT"
  | "FNRUN_INSTANCE_EXITED"
  | "FNRUN_CGROUP"
  | "FNRUN_ROOTFS_MOUNT"
  | "FNRUN_FUNCTION_INIT"
  | "FNRUN_SPECIALIZE";

const KINDS: Record<RuntimeErrorCode, "user" | "system"> = {
  FNRUN_RUNC_MISSING: "user",
  FNRUN_RUNC_FAILED: "system",
  FNRUN_INSTANCE_START_TIMEOUT: "system",
  // The function's own code usually makes the bootstrap exit early (bad bundle, OOM at import).
  FNRUN_INSTANCE_EXITED: "user",
  FNRUN_CGROUP: "system",
  FNRUN_ROOTFS_MOUNT: "system",
  // A stem cell imported the function's bundle and the import threw (or never finished).
  FNRUN_FUNCTION_INIT: "user",
  FNRUN_SPECIALIZE: "system",
};

export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  readonly kind: "user" | "system";

  constructor(code: RuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RuntimeError";
    this.code = code;
    this.kind = KINDS[code];
  }
}

/** runc is not installed (or not on the PATH fnrun gives it). */
export function runcMissing(binary: string, cause?: unknown): RuntimeError {
  const what = binary === "runc" ? "runc not found on PATH" : `runc not found at \`${binary}\``;
  return new RuntimeError("FNRUN_RUNC_MISSING", `${what}: install it with \`apt-get install runc\``, { cause });
}

/** A runc command exited non-zero: names the operation, the container and runc's last words. */
export function runcFailed(op: string, id: string, exitCode: number | null, stderr: string, signal?: string | null): RuntimeError {
  const outcome = exitCode === null ? `killed by ${signal ?? "signal"}` : `exit code ${exitCode}`;
  const tail = lastLines(stderr, 5);
  return new RuntimeError("FNRUN_RUNC_FAILED", `runc ${op} \`${id}\`: ${outcome}${tail ? `: ${tail}` : ""}`);
}

/** The last `n` non-empty lines of a text, joined with newlines. */
export function lastLines(text: string, n: number): string {
  return text.split("\n").map((l) => l.trimEnd()).filter(Boolean).slice(-n).join("\n");
}
