/**
 * @module runtime/instance-output
 * A container's stdout and stderr, read from the pipes runc gave it, line by line. Each
 * line goes to a sink together with the function the instance serves at that moment (a
 * stem cell learns its function only when specialized); the last lines stay here for the
 * error message of an instance that dies. A line the bootstrap tagged with an invocation id
 * (bootstrap/console-tag.ts) reaches the sink untagged, with the id beside it.
 */
import type { Readable } from "node:stream";
import { parseTag } from "./bootstrap/console-tag.ts";

export type OutputStream = "stdout" | "stderr";

/** Where instances' output lines go (the daemon's function logs). */
export interface OutputSink {
  /** `invocation`: the id of the invocation that wrote the line; null when none did (start-up, stem cells). */
  line(instanceId: string, fn: string | null, stream: OutputStream, text: string, invocation?: string | null): void;
}

/** A line longer than this is cut (and marked) so one endless line cannot grow the daemon's memory. */
const MAX_LINE = 16 * 1024;
const KEEP = 20;

export class OutputReader {
  readonly #recent: string[] = [];
  readonly #ended: Promise<void>;

  constructor(
    readonly instanceId: string,
    fn: () => string | null,
    sink: OutputSink,
    streams: Record<OutputStream, Readable>,
  ) {
    const ends = (Object.entries(streams) as Array<[OutputStream, Readable]>).map(([name, stream]) => {
      let partial = "";
      // The rest of a line that was cut (no marker of its own) belongs to the same invocation.
      let carried: string | null = null;
      const emit = (line: string, cut = false) => {
        const tagged = parseTag(line);
        const text = tagged.text;
        const invocation = tagged.invocation ?? carried;
        carried = cut ? invocation : null;
        this.#recent.push(text);
        if (this.#recent.length > KEEP) this.#recent.shift();
        sink.line(instanceId, fn(), name, text, invocation);
      };
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop()!;
        for (const l of lines) emit(l);
        if (partial.length > MAX_LINE) {
          emit(`${partial.slice(0, MAX_LINE)} [fnrun: line cut at ${MAX_LINE} bytes]`, true);
          partial = "";
        }
      });
      return new Promise<void>((resolve) => {
        const done = () => {
          if (partial) emit(partial);
          partial = "";
          resolve();
        };
        stream.once("end", done);
        stream.once("close", done);
        stream.once("error", done);
      });
    });
    this.#ended = Promise.all(ends).then(() => {});
  }

  /** Resolves when the container has closed both streams (it exited), or after `ms`. */
  ended(ms = 200): Promise<void> {
    return Promise.race([this.#ended, new Promise<void>((r) => setTimeout(r, ms).unref())]);
  }

  /** The last `n` lines the instance wrote. */
  tail(n: number): string {
    return this.#recent.slice(-n).join("\n");
  }
}
