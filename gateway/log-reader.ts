/**
 * @module gateway/log-reader
 * Reads a function's log files (runtime/function-logs.ts writes them): the rotated
 * `<fn>.log.1` then `<fn>.log`, filtered by time and invocation id, and optionally followed
 * as they grow (`fnrun logs -f`), across rotations. Served by the control API as plain text,
 * one stored line per line.
 */
import { open, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseDuration } from "./units.ts";

/** One stored line, parsed. Lines the reader does not recognize keep `time: null`. */
export interface LogLine {
  time: string | null;
  instance: string | null;
  stream: string | null;
  invocation: string | null;
  text: string;
  raw: string;
}

const LINE_RE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (\S+) (stdout|stderr|-) (?:inv=(\S+) )?([\s\S]*)$/;
const FNRUN_RE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) fnrun - ([\s\S]*)$/;
// gateway/timeout-log.ts: "fnrun: <ISO> invocation <id> (...) timed out ..."
const TIMEOUT_RE = /^fnrun: (\d{4}-\d\d-\d\dT[\d:.]+Z) invocation (\S+) /;

export function parseLogLine(raw: string): LogLine {
  let m = LINE_RE.exec(raw);
  if (m) return { time: m[1], instance: m[2], stream: m[3], invocation: m[4] ?? null, text: m[5], raw };
  m = FNRUN_RE.exec(raw);
  if (m) return { time: m[1], instance: "fnrun", stream: null, invocation: null, text: m[2], raw };
  m = TIMEOUT_RE.exec(raw);
  if (m) return { time: m[1], instance: "fnrun", stream: null, invocation: m[2], text: raw, raw };
  return { time: null, instance: null, stream: null, invocation: null, text: raw, raw };
}

/**
 * `since` as the CLI and API take it: a duration back from `now` ("10m", "1h30m", "45s") or
 * an ISO date. Returns epoch ms, or throws a message that says what is expected.
 */
export function parseSince(v: string, now = Date.now()): number {
  if (/^\d{4}-\d\d-\d\d/.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  } else if (/^[\d.]+(ms|s|m|h|d)([\d.]+(ms|s|m|h|d))*$/.test(v)) {
    try {
      return now - parseDuration(v);
    } catch {}
  }
  throw Object.assign(new Error(`since: expected a duration like 10m, 1h or 30s, or an ISO date like 2026-01-31T12:00:00Z, got "${v}"`), { code: "FNRUN_BAD_REQUEST", kind: "user" });
}

export interface LogQuery {
  /** Epoch ms; lines older are left out (lines with no time are kept). */
  since?: number;
  invocation?: string;
  /** At most this many (the last) lines of what matched, when given. */
  tail?: number;
}

function matches(line: LogLine, q: LogQuery): boolean {
  if (q.invocation !== undefined && line.invocation !== q.invocation) return false;
  if (q.since !== undefined && line.time !== null && Date.parse(line.time) < q.since) return false;
  return true;
}

/** The lines of `file.1` then `file` that match `q`. Files are bounded by rotation (runtime/function-logs.ts). */
export async function readLog(file: string, q: LogQuery = {}): Promise<{ lines: string[]; offset: number; ino: number | null }> {
  const out: string[] = [];
  let offset = 0;
  let ino: number | null = null;
  for (const path of [`${file}.1`, file]) {
    const s = await stat(path).catch(() => null);
    if (!s) continue;
    const fh = await open(path, "r");
    try {
      const buf = Buffer.alloc(s.size);
      const { bytesRead } = await fh.read(buf, 0, s.size, 0);
      let text = buf.subarray(0, bytesRead).toString("utf8");
      // A line still being written stays for the follower to read whole.
      const end = text.lastIndexOf("\n") + 1;
      if (path === file) {
        offset = Buffer.byteLength(text.slice(0, end));
        ino = s.ino;
      }
      text = text.slice(0, end);
      for (const raw of text.split("\n")) if (raw !== "" && matches(parseLogLine(raw), q)) out.push(raw);
    } finally {
      await fh.close();
    }
  }
  return { lines: q.tail !== undefined ? out.slice(-q.tail) : out, offset, ino };
}

/**
 * Calls `onLine` for each line appended to `file` from byte `offset` on, polling every
 * `intervalMs` until `signal` aborts. A rotation (another inode at `file`) is followed: the
 * rest of the old file (now `file.1`) first, then the new one from its start.
 */
export async function followLog(file: string, from: { offset: number; ino: number | null }, q: LogQuery, onLine: (raw: string) => void, signal: AbortSignal, intervalMs = 200): Promise<void> {
  let { offset, ino } = from;
  let partial = "";
  const readFrom = async (path: string, start: number): Promise<number> => {
    const s = await stat(path).catch(() => null);
    if (!s || s.size <= start) return s ? Math.min(start, s.size) : start;
    // Rotation may rename the file between the stat and the open: read nothing now, the loop sees the new file next.
    const fh = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    if (!fh) return start;
    try {
      const buf = Buffer.alloc(s.size - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      const lines = (partial + buf.subarray(0, bytesRead).toString("utf8")).split("\n");
      partial = lines.pop()!;
      for (const raw of lines) if (raw !== "" && matches(parseLogLine(raw), q)) onLine(raw);
      return start + bytesRead;
    } finally {
      await fh.close();
    }
  };
  while (!signal.aborted) {
    const s = await stat(file).catch(() => null);
    if (s && ino !== null && s.ino !== ino) {
      const old = await stat(`${file}.1`).catch(() => null);
      if (old?.ino === ino) await readFrom(`${file}.1`, offset);
      partial = "";
      offset = 0;
    }
    if (s) {
      ino = s.ino;
      offset = await readFrom(file, offset);
    }
    await new Promise<void>((r) => {
      const t = setTimeout(r, intervalMs);
      signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
    });
  }
}

/**
 * Answers `GET /v1/functions/:name/logs?since=&invocation=&tail=&follow=1` on the raw node
 * response: the matching lines, then (follow) new ones as they are written until the client
 * goes away. Without since or invocation, the last `tail` (default 200) lines.
 */
export async function serveLogs(file: string, query: (k: string) => string | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sinceArg = query("since");
  const invocation = query("invocation") || undefined;
  const tailArg = query("tail");
  const q: LogQuery = { invocation };
  try {
    if (sinceArg) q.since = parseSince(sinceArg);
  } catch (err) {
    const body = JSON.stringify({ error: "bad request", code: "FNRUN_BAD_REQUEST", message: (err as Error).message });
    res.writeHead(400, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    return;
  }
  if (tailArg !== undefined || (q.since === undefined && invocation === undefined)) {
    q.tail = Math.max(1, Math.min(100_000, Number(tailArg ?? 200) || 200));
  }
  const follow = query("follow") === "1" || query("follow") === "true";
  const first = await readLog(file, q);
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" });
  res.write(first.lines.map((l) => `${l}\n`).join(""));
  if (!follow) {
    res.end();
    return;
  }
  res.flushHeaders();
  const stop = new AbortController();
  const end = () => stop.abort();
  req.once("close", end);
  res.once("close", end);
  await followLog(file, first, { invocation }, (raw) => res.write(`${raw}\n`), stop.signal);
  res.end();
}
