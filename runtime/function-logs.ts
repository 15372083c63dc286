/**
 * @module runtime/function-logs
 * The logs of functions: every line an instance writes, appended to
 * `<logs dir>/<function>.log` as `<ISO time> <instance> <stream> <text>`, or
 * `<ISO time> <instance> <stream> inv=<invocation id> <text>` for a line written during an
 * invocation (gateway/log-reader.ts parses both). A file past its
 * size bound is moved to `<function>.log.1` (replacing the older one), and the new file
 * starts with a line that says so: a function that floods its output costs a bounded
 * amount of disk, and the daemon never holds more than one write buffer per function.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import type { OutputSink, OutputStream } from "./instance-output.ts";

export interface FunctionLogsOptions {
  dir: string;
  /** Size bound of one function's current log file. */
  maxBytes?: number;
}

/** Lines of instances that serve no function yet (stem cells) go here. */
export const STEM_LOG = "_stem";
/** Past this many bytes waiting for the disk, lines are dropped (and counted) instead of queued. */
const MAX_PENDING = 1 << 20;

interface LogFile {
  stream: WriteStream;
  bytes: number;
  dropped: number;
  rotating: boolean;
}

export class FunctionLogs implements OutputSink {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #files = new Map<string, LogFile>();

  constructor(opts: FunctionLogsOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** The current log file of `fn`. */
  pathOf(fn: string): string {
    return join(this.dir, `${fn}.log`);
  }

  line(instanceId: string, fn: string | null, stream: OutputStream, text: string, invocation?: string | null): void {
    this.append(fn ?? STEM_LOG, `${new Date().toISOString()} ${instanceId} ${stream} ${invocation ? `inv=${invocation} ` : ""}${text}\n`);
  }

  /** Appends one already-formatted line (the gateway also writes here, e.g. for timeouts). */
  append(fn: string, text: string): void {
    const file = this.#open(fn);
    if (file.rotating || file.stream.writableLength > MAX_PENDING) {
      file.dropped++;
      return;
    }
    if (file.dropped > 0) {
      const note = `${new Date().toISOString()} fnrun - [fnrun: ${file.dropped} lines dropped: the function wrote faster than its log could be stored]\n`;
      file.dropped = 0;
      this.#write(fn, file, note);
    }
    this.#write(fn, file, text);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#files.values()].map((f) => new Promise<void>((resolve) => f.stream.end(resolve))));
    this.#files.clear();
  }

  #open(fn: string): LogFile {
    let file = this.#files.get(fn);
    if (!file) {
      const path = this.pathOf(fn);
      file = { stream: createWriteStream(path, { flags: "a", mode: 0o600 }), bytes: 0, dropped: 0, rotating: false };
      file.stream.on("error", () => {}); // a full disk must not take the daemon down; lines are lost
      const f = file;
      void stat(path).then((s) => (f.bytes += s.size), () => {});
      this.#files.set(fn, file);
    }
    return file;
  }

  #write(fn: string, file: LogFile, text: string): void {
    file.stream.write(text);
    file.bytes += Buffer.byteLength(text);
    if (file.bytes > this.maxBytes) void this.#rotate(fn, file);
  }

  /** Moves the full file aside and starts a new one that begins by saying so. */
  async #rotate(fn: string, file: LogFile): Promise<void> {
    file.rotating = true;
    await new Promise<void>((resolve) => file.stream.end(resolve));
    const path = this.pathOf(fn);
    await rename(path, `${path}.1`).catch(() => {});
    this.#files.delete(fn);
    const next = this.#open(fn);
    next.dropped = file.dropped;
    this.#write(fn, next, `${new Date().toISOString()} fnrun - [fnrun: log truncated: earlier lines moved to ${fn}.log.1, older ones discarded (bound: ${this.maxBytes} bytes)]\n`);
  }
}
