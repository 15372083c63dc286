/**
 * @module cli/user-errors
 * Which errors the user can fix, and how they are printed: one line (or a JSON object with
 * --json) naming what failed and the fix, no stack trace. Everything else is a bug or a
 * system failure and keeps its stack, which is what a bug report needs.
 */
import { CliError } from "./client.ts";

/** System call errors on a path the user gave (a missing --data @FILE, an unreadable token file). */
const FS_FIXES: Record<string, string> = {
  ENOENT: "no such file or directory; check the path",
  EACCES: "permission denied; run as a user that may read it, or fix its mode",
  EPERM: "operation not permitted; run as root",
  EISDIR: "is a directory; give a file",
  ENOTDIR: "a part of the path is not a directory; check the path",
  ENAMETOOLONG: "path too long; use a shorter one",
};

export interface Printed {
  user: boolean;
  message: string;
  code?: string;
}

export function describeError(err: unknown): Printed {
  const e = err as Error & { kind?: string; code?: string; path?: string; syscall?: string };
  if (err instanceof CliError || e?.kind === "user") return { user: true, message: e.message, code: e.code };
  if (typeof e?.code === "string" && FS_FIXES[e.code] && typeof e.path === "string") {
    return { user: true, message: `${e.syscall ?? "open"} ${e.path}: ${FS_FIXES[e.code]}`, code: e.code };
  }
  return { user: false, message: e?.stack ?? String(err), code: e?.code };
}

/** The line(s) to print for `err`; `json`: one JSON object, for scripts. */
export function formatError(err: unknown, json: boolean): string {
  const p = describeError(err);
  if (json) return JSON.stringify({ error: { message: p.user ? p.message : String((err as Error)?.message ?? err), code: p.code ?? null, kind: p.user ? "user" : "system" } }) + "\n";
  return `fnrun: ${p.message}\n`;
}
