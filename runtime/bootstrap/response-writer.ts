/**
 * @module runtime/bootstrap/response-writer
 * Writes a function's Response to node's ServerResponse. A light Response (web/response.ts)
 * is written from what it holds: a string or bytes in one write with a Content-Length, a
 * Blob's bytes likewise, a stream chunk by chunk. node's own Response (from fetch()) is
 * written through its public API. Streams are written as they come, never buffered: the
 * next chunk is read only once node has taken the last one (`write()` returned true, or
 * `drain`), and a client that goes away cancels the stream.
 *
 * A stream's first chunks are taken only if they are there already (as @hono/node-server
 * did): a stream that ends at once gets a Content-Length, and the head of a slow one goes out
 * without waiting for its first chunk.
 */
import type { ServerResponse } from "node:http";
import { FnHeaders } from "./web/headers.ts";
import { responseParts } from "./web/response.ts";

type Chunk = { done: true; value?: undefined } | { done: false; value: unknown };
const NOT_YET = Symbol("not yet");

/** The read if it settles within a few microtasks (a chunk already queued), else NOT_YET (the read stays pending). */
function readNow(read: Promise<Chunk>): Promise<Chunk | typeof NOT_YET> {
  return Promise.race([read, Promise.resolve().then(() => Promise.resolve(NOT_YET))]);
}

/** A chunk as node takes it: bytes, or a string (written as UTF-8; @hono/node-server took strings too). */
function bytesOf(value: unknown): Uint8Array | string {
  if (value instanceof Uint8Array || typeof value === "string") return value;
  throw new TypeError(`response body stream gave a chunk that is not a Uint8Array (${value === null ? "null" : typeof value})`);
}

function sizeOf(chunk: Uint8Array | string): number {
  return typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/** Whether node may be given a Content-Length for this head (none given, no Transfer-Encoding, a status with a body). */
function canAddLength(head: string[], status: number): boolean {
  if (status === 204 || status === 304 || status < 200) return false;
  for (let i = 0; i < head.length; i += 2) {
    const n = head[i];
    if (n === "content-length" || n === "transfer-encoding") return false;
  }
  return true;
}

function writeHead(res: ServerResponse, status: number, statusText: string, head: string[]): void {
  if (statusText) res.writeHead(status, statusText, head);
  else res.writeHead(status, head);
}

/** Resolves once node wants more (`drain`) or the response is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done).off("close", done);
      resolve();
    };
    res.on("drain", done).on("close", done);
  });
}

/**
 * Writes `response`: at once (undefined) for a body in memory, else a promise for the end of a
 * Blob's or a stream's. Throws, or rejects, when it cannot be written (the caller answers 502 if
 * nothing went out yet).
 */
export function writeResponse(res: ServerResponse, response: Response): Promise<void> | undefined {
  const parts = responseParts(response);
  let status: number;
  let statusText: string;
  let head: string[];
  let body: string | Uint8Array | Blob | ReadableStream<Uint8Array> | null;
  if (parts) {
    if (parts.type === "error") throw new TypeError("the function returned Response.error(), a network error");
    status = parts.status;
    statusText = parts.statusText;
    head = FnHeaders.flat(parts.headers)!;
    body = parts.body ? parts.body.take() : null;
  } else {
    // node's own Response (fetch()'s), or one of ours wrapping it.
    if (response.type === "error") throw new TypeError("the function returned Response.error(), a network error");
    if (response.bodyUsed) throw new TypeError("the function returned a Response whose body was already read");
    status = response.status;
    statusText = response.statusText;
    head = [];
    for (const [name, value] of response.headers as unknown as Iterable<[string, string]>) head.push(name, value); // set-cookie comes once per cookie
    body = response.body;
  }

  if (body === null || typeof body === "string" || body instanceof Uint8Array) {
    if (canAddLength(head, status)) head.push("content-length", String(body === null ? 0 : sizeOf(body)));
    writeHead(res, status, statusText, head);
    if (body === null) res.end();
    else res.end(body);
    return;
  }
  if (body instanceof Blob) return writeBlob(res, status, statusText, head, body);
  return writeStream(res, status, statusText, head, body);
}

async function writeBlob(res: ServerResponse, status: number, statusText: string, head: string[], blob: Blob): Promise<void> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (canAddLength(head, status)) head.push("content-length", String(bytes.byteLength));
  writeHead(res, status, statusText, head);
  res.end(bytes);
}

async function writeStream(res: ServerResponse, status: number, statusText: string, head: string[], stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  res.once("close", cancel); // the client went away: stop the function's stream
  try {
    let pending: Promise<Chunk> | null = reader.read() as Promise<Chunk>;
    const first = await readNow(pending);
    if (first === NOT_YET) {
      // Nothing yet: the head goes out now (a client may be waiting for it, e.g. server-sent events).
      writeHead(res, status, statusText, head);
      res.flushHeaders();
    } else if (first.done) {
      pending = null;
      if (canAddLength(head, status)) head.push("content-length", "0");
      writeHead(res, status, statusText, head);
      res.end();
      return;
    } else {
      pending = null;
      const chunk = bytesOf(first.value);
      const next = reader.read() as Promise<Chunk>;
      const second = await readNow(next);
      if (second !== NOT_YET && second.done) {
        if (canAddLength(head, status)) head.push("content-length", String(sizeOf(chunk)));
        writeHead(res, status, statusText, head);
        res.end(chunk);
        return;
      }
      writeHead(res, status, statusText, head);
      if (!res.write(chunk)) await drained(res);
      if (second === NOT_YET) pending = next;
      else if (!res.destroyed && !res.write(bytesOf(second.value))) await drained(res);
    }
    for (;;) {
      if (res.destroyed) return cancel();
      const r: Chunk = await (pending ?? (reader.read() as Promise<Chunk>));
      pending = null;
      if (r.done) break;
      if (!res.write(bytesOf(r.value))) await drained(res);
    }
    res.end();
  } finally {
    res.off("close", cancel);
  }
}
