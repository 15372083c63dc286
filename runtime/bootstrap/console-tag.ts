/**
 * @module runtime/bootstrap/console-tag
 * Tags every line a function writes during an invocation with that invocation's id, also when
 * one instance serves many invocations at once: each request runs in an AsyncLocalStorage
 * context, and process.stdout/stderr writes made in it (console.* included) get a marker at the
 * start of each line, `\u001eINV <id>\u001f` (ASCII record/unit separators: never in ordinary
 * text). The host (runtime/instance-output.ts) takes the marker off and stores the id as a
 * field of the line.
 *
 * Cost: on node 20, an active AsyncLocalStorage turns on promise hooks, which cost a trivial
 * handler ~10 µs a request (~35% of its throughput, measured with wrk against the same
 * @hono/node-server listener). So the context is used only while invocations overlap: one
 * invocation running alone is the "solo" one, and every write made outside a context is
 * its; an invocation that starts while another runs gets a context; when no context is
 * left the storage is disabled again (and with it the hooks). A timer left behind by a
 * finished solo invocation writes as the solo one of the moment (or untagged).
 *
 * Forgery: inside an invocation every line starts with the real marker, so text the function
 * writes cannot replace it. Outside one (module init, a timer that escaped its context, a
 * direct fs.writeSync(1)) a function could write a marker itself; that only mislabels its own
 * lines in its own log, so it is accepted rather than escaped at a cost on every write.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export const TAG_START = "\u001eINV ";
export const TAG_END = "\u001f";
/** Ids are the gateway's; anything else is dropped so that a marker can never be broken by one. */
const ID_RE = /^[A-Za-z0-9._:-]{1,80}$/;

const current = new AsyncLocalStorage<string>();
/** The invocation that started when none was running; writes outside any context are its. */
let solo: string | undefined;
/** Invocations running inside `current` (they overlapped another one when they started). */
let inContext = 0;

/** The invocation a write made now belongs to. */
function owner(): string | undefined {
  return current.getStore() ?? solo;
}

/**
 * Runs `fn` as invocation `id` until the promise it returns settles: what it (and what it
 * starts) writes is tagged. No (or a malformed) id: untagged.
 */
export function runTagged<T>(id: string | undefined, fn: () => T): T {
  if (id === undefined || !ID_RE.test(id)) return fn();
  if (solo === undefined) {
    solo = id;
    return settle(fn, endSolo);
  }
  inContext++;
  return current.run(id, () =>
    settle(fn, () => {
      if (--inContext === 0) current.disable(); // no overlap left: promise hooks off again
    }),
  );
}

/**
 * The solo invocation ended. Only its own end clears it: solo is set only when there is none, and
 * each invocation's end runs once.
 */
function endSolo(): void {
  solo = undefined;
}

/** Calls `fn`, then `done` once what it returned has settled (at once when it is not a promise, or threw). */
function settle<T>(fn: () => T, done: () => void): T {
  let result: T;
  try {
    result = fn();
  } catch (err) {
    done();
    throw err;
  }
  if (result instanceof Promise) result.then(done, done);
  else done();
  return result;
}

/** `text` with the marker of `id` at the start of each line (at the start of `text` only when `atLineStart`). */
export function tagLines(text: string, id: string, atLineStart: boolean): string {
  const mark = `${TAG_START}${id}${TAG_END}`;
  return (atLineStart ? mark : "") + text.replace(/\n(?=[\s\S])/g, `\n${mark}`);
}

/** Makes writes to `stream` made inside runTagged() carry the marker. Installed once per stream. */
export function tagStream(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  // One stream, one line state: a write that ends without "\n" continues the same line.
  let atLineStart = true;
  stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const id = owner();
    if (id === undefined || (typeof chunk !== "string" && !(chunk instanceof Uint8Array))) {
      if (typeof chunk === "string") atLineStart = chunk.endsWith("\n") || (atLineStart && chunk === "");
      else if (chunk instanceof Uint8Array && chunk.length > 0) atLineStart = chunk[chunk.length - 1] === 0x0a;
      return write(chunk, encoding, cb);
    }
    const text = typeof chunk === "string"
      ? typeof encoding === "string" && encoding !== "utf8" && encoding !== "utf-8" ? Buffer.from(chunk, encoding as BufferEncoding).toString("utf8") : chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8");
    if (text === "") return write(chunk, encoding, cb);
    const tagged = tagLines(text, id, atLineStart);
    atLineStart = text.endsWith("\n");
    return typeof encoding === "function" ? write(tagged, encoding) : write(tagged, "utf8", cb);
  }) as typeof stream.write;
}

/**
 * Tags process.stdout and process.stderr (tagStream) when each is first used rather than now:
 * node makes them on first access, ~1 ms of CPU at boot that a function which never writes
 * does not need (and a cold start's CPU is what its 0.5-core quota throttles).
 */
export function tagStdioWhenUsed(): void {
  for (const name of ["stdout", "stderr"] as const) {
    const made = Object.getOwnPropertyDescriptor(process, name);
    if (!made?.get || !made.configurable) {
      tagStream(process[name]);
      continue;
    }
    let tagged: NodeJS.WriteStream | undefined;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: made.enumerable,
      get() {
        if (!tagged) {
          tagged = made.get!.call(process) as NodeJS.WriteStream;
          tagStream(tagged);
        }
        return tagged;
      },
    });
  }
}

/** Splits a line read on the host into its invocation id (null: untagged) and its text. */
export function parseTag(line: string): { invocation: string | null; text: string } {
  if (line.charCodeAt(0) !== 0x1e || !line.startsWith(TAG_START)) return { invocation: null, text: line };
  const end = line.indexOf(TAG_END, TAG_START.length);
  if (end === -1) return { invocation: null, text: line };
  const id = line.slice(TAG_START.length, end);
  if (!ID_RE.test(id)) return { invocation: null, text: line };
  return { invocation: id, text: line.slice(end + 1) };
}
