/**
 * @module runtime/bootstrap/web/body
 * The body of a light Request or Response: what the Fetch standard's "extract a body" makes of
 * a BodyInit, and its Body mixin (text, json, arrayBuffer, bytes, blob, formData, the stream,
 * bodyUsed). A body stays in the form it was given (a string, bytes, a Blob, a stream, or the
 * node request it arrives on) until something reads it, so the bootstrap can write a string
 * or bytes straight to the socket and read a request's body without a web stream; `.body`
 * makes the ReadableStream only when asked for.
 */
import type { IncomingMessage } from "node:http";
import * as nodeStream from "node:stream";
import { real } from "./real.ts";

/** node's stream.isDisturbed (since 16.8; missing from @types/node 20): whether a web stream was read from or cancelled. */
const isDisturbed = (nodeStream as unknown as { isDisturbed(s: unknown): boolean }).isDisturbed;

/** What a body can hold before anything reads it. */
export type BodySource = string | Uint8Array | Blob | ReadableStream<Uint8Array> | IncomingMessage;

export interface Extracted {
  source: BodySource | null;
  /** The Content-Type the body kind implies (fetch's "extract a body"), if any. */
  type: string | null;
}

/** Fetch's "extract a body" for the kinds handled here; undefined for those only node's own classes handle (FormData, async iterables, other objects). */
export function extract(init: unknown): Extracted | undefined {
  if (init === null || init === undefined) return { source: null, type: null };
  if (typeof init === "string") return { source: init, type: "text/plain;charset=UTF-8" };
  if (typeof init !== "object") return typeof init === "function" || typeof init === "symbol" ? undefined : { source: String(init), type: "text/plain;charset=UTF-8" };
  // The standard copies the bytes: a function may reuse its buffer after answering.
  if (ArrayBuffer.isView(init)) return { source: new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), type: null };
  if (init instanceof ArrayBuffer) return { source: new Uint8Array(init.slice(0)), type: null };
  if (init instanceof Blob) return { source: init, type: init.type || null };
  if (init instanceof URLSearchParams) return { source: init.toString(), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  if (init instanceof ReadableStream) {
    if (init.locked || isDisturbed(init)) throw new TypeError("Response body object should not be disturbed or locked");
    return { source: init, type: null };
  }
  return undefined;
}

const decoder = new TextDecoder();

/** Fetch's "UTF-8 decode" of a string body: a leading BOM dropped, lone surrogates replaced. */
function decodedString(s: string): string {
  const w = s as string & { isWellFormed(): boolean; toWellFormed(): string };
  const well = w.isWellFormed() ? s : w.toWellFormed();
  return well.charCodeAt(0) === 0xfeff ? well.slice(1) : well;
}

function isIncoming(s: BodySource): s is IncomingMessage {
  return typeof (s as IncomingMessage).pipe === "function" && typeof (s as IncomingMessage).rawHeaders === "object";
}

/** The whole body of a node request, without a web stream. */
export function readIncoming(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    const done = (err?: Error) => {
      req.off("data", onData).off("end", onEnd).off("error", done).off("close", onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    const onEnd = () => done();
    const onClose = () => done(req.complete ? undefined : new TypeError("the request body was cut off: the client closed the connection"));
    req.on("data", onData).once("end", onEnd).once("error", done).once("close", onClose);
    if (req.readableEnded) done();
  });
}

/**
 * A node request's body as a ReadableStream that pulls from it: node's request is paused
 * whenever the stream's queue is full (so a function that reads slowly slows the sender), and
 * no enqueue/close/error can reach a controller that is already closed (node's Readable.toWeb
 * crashed a process under load doing that, FACTS.md). Cancelling discards the rest of the
 * body (the connection stays usable for the response).
 */
export function incomingStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let finished = false;
  const detach = () => {
    finished = true;
    req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const onData = (chunk: Buffer) => {
    if (finished) return;
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) <= 0) req.pause();
  };
  const onEnd = () => {
    if (finished) return;
    detach();
    controller.close();
  };
  const onError = (err: Error) => {
    if (finished) return;
    detach();
    controller.error(err);
  };
  const onClose = () => {
    if (!finished) onError(new TypeError("the request body was cut off: the client closed the connection"));
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (req.readableEnded) {
        finished = true;
        c.close();
        return;
      }
      req.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose);
    },
    pull() {
      if (!finished) req.resume();
    },
    cancel() {
      detach();
      req.resume(); // read and drop the rest
    },
  });
}

/** A ReadableStream of bytes held in memory. */
function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.byteLength > 0) c.enqueue(bytes);
      c.close();
    },
  });
}

async function readStream(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) throw new TypeError("Received non-Uint8Array chunk");
    chunks.push(value);
    size += value.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A fresh ArrayBuffer holding exactly `bytes` (a Buffer may be a view into node's shared pool). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export class Body {
  #source: BodySource | null;
  /** The stream `.body` gave out; from then on the only way to read. */
  #stream: ReadableStream<Uint8Array> | null = null;
  #used = false;

  constructor(source: BodySource | null) {
    this.#source = source;
  }

  /** The body as a ReadableStream (the `body` attribute), made on first use; null for no body. */
  get stream(): ReadableStream<Uint8Array> | null {
    if (this.#stream) return this.#stream;
    const s = this.#source;
    if (s === null) return null;
    let stream: ReadableStream<Uint8Array>;
    if (this.#used) {
      // Read already (text() and the like): the standard's stream is disturbed and empty by now.
      stream = bytesStream(new Uint8Array(0));
      void stream.getReader().read();
    } else if (typeof s === "string") stream = bytesStream(Buffer.from(s, "utf8"));
    else if (s instanceof Uint8Array) stream = bytesStream(s);
    else if (s instanceof Blob) stream = s.stream() as ReadableStream<Uint8Array>;
    else if (isIncoming(s)) stream = incomingStream(s);
    else stream = s;
    this.#source = stream;
    return (this.#stream = stream);
  }

  get used(): boolean {
    return this.#used || (this.#stream !== null && isDisturbed(this.#stream));
  }

  get isNull(): boolean {
    return this.#source === null;
  }

  /** A second body with the same content (a stream is teed; this one keeps one branch). */
  clone(): Body {
    if (this.used || this.#stream?.locked) throw new TypeError("Body has already been consumed.");
    const s = this.#source;
    if (s === null || typeof s === "string" || s instanceof Uint8Array || s instanceof Blob) return new Body(s);
    const [a, b] = this.stream!.tee();
    this.#source = this.#stream = a;
    return new Body(b);
  }

  /**
   * The source for writing it out (string, bytes, Blob, stream or null). A stream is used up by
   * that (the body is marked used); a body held in memory is not, so a Response a function keeps
   * and returns again (a module-level `new Response("not found", {status: 404})`) is written each
   * time, as it was with @hono/node-server. Throws when it was read already.
   */
  take(): Exclude<BodySource, IncomingMessage> | null {
    this.#check();
    const s = this.#source;
    if (s === null || typeof s === "string" || s instanceof Uint8Array || s instanceof Blob) return s;
    const stream = this.stream;
    this.#used = true;
    return stream;
  }

  #check(): void {
    if (this.used || this.#stream?.locked) throw new TypeError("Body is unusable: Body has already been read");
  }

  /** The whole body: a string as it is, else bytes. Marks it used. */
  async #all(): Promise<string | Uint8Array> {
    this.#check();
    this.#used = true;
    const s = this.#source;
    if (s === null) return new Uint8Array(0);
    if (typeof s === "string" || s instanceof Uint8Array) return s;
    if (s instanceof Blob) return new Uint8Array(await s.arrayBuffer());
    if (isIncoming(s)) return readIncoming(s);
    return readStream(s);
  }

  async text(): Promise<string> {
    const all = await this.#all();
    return typeof all === "string" ? decodedString(all) : decoder.decode(all);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const all = await this.#all();
    return ownBuffer(typeof all === "string" ? Buffer.from(all, "utf8") : all);
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }

  async blob(type: string): Promise<Blob> {
    const all = await this.#all();
    return new Blob([(typeof all === "string" ? Buffer.from(all, "utf8") : all) as Uint8Array<ArrayBuffer>], { type });
  }

  /** Parsing multipart and urlencoded forms is left to node's own Response (loaded for it). */
  async formData(contentType: string | null): Promise<FormData> {
    this.#check();
    const stream = this.stream;
    this.#used = true;
    const headers: Record<string, string> = contentType === null ? {} : { "content-type": contentType };
    return new (real().Response)(stream, { headers }).formData();
  }
}
