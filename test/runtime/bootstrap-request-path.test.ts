/**
 * The bootstrap's request conversion (runtime/bootstrap/request-path.ts, web/request.ts,
 * response-writer.ts) on a real node:http server on 127.0.0.1: the Request a function gets
 * from node's request, and what goes on the wire for each kind of Response, read as raw
 * bytes. Runs in the test process (the light classes are used directly, not as globals);
 * test/runtime/bootstrap-web.test.ts runs the same bootstrap in a container.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createFunctionListener, type FunctionSlot } from "../../runtime/bootstrap/request-path.ts";
import { FnHeaders } from "../../runtime/bootstrap/web/headers.ts";
import { FnRequest } from "../../runtime/bootstrap/web/request.ts";
import { FnResponse } from "../../runtime/bootstrap/web/response.ts";

type Handler = (request: Request) => unknown;
const R = FnResponse as unknown as typeof Response;
const encoder = new TextEncoder();

describe("bootstrap request path (node:http on 127.0.0.1)", () => {
  const routes = new Map<string, Handler>();
  const slot: FunctionSlot = {
    handler: (req) => {
      const h = routes.get(new URL(req.url).pathname);
      if (!h) return new R("no route", { status: 404 });
      return h(req);
    },
    initError: undefined,
  };
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer(createFunctionListener({ slot, env: {} }));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  /** One request written by hand; resolves with the raw response (the server closes the connection after it). */
  function raw(head: string, body: string | Buffer = ""): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1");
      const chunks: Buffer[] = [];
      s.on("data", (c) => chunks.push(c));
      s.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
      s.on("error", reject);
      s.setTimeout(10_000, () => s.destroy(new Error("no answer")));
      // Not ended: node's server cuts a response in progress when the client half-closes.
      s.write(`${head}\r\nConnection: close\r\n\r\n`);
      if (body.length) s.write(body);
    });
  }
  const get = (path: string, extra = "") => raw(`GET ${path} HTTP/1.1\r\nHost: t.test${extra}`);
  /** The head's lines after the status line, lower-cased names, Date left out. */
  const headLines = (resp: string) =>
    resp.split("\r\n\r\n")[0].split("\r\n").slice(1)
      .map((l) => l.slice(0, l.indexOf(":")).toLowerCase() + l.slice(l.indexOf(":")))
      .filter((l) => !l.startsWith("date:") && !l.startsWith("connection:"));
  const bodyOf = (resp: string) => resp.slice(resp.indexOf("\r\n\r\n") + 4);

  test("a string body: one write with Content-Length and the implied Content-Type", async () => {
    routes.set("/s", () => new R("héllo", { headers: { "X-Mine": "1" } }));
    const resp = await get("/s");
    assert.match(resp, /^HTTP\/1\.1 200 OK\r\n/);
    assert.deepEqual(headLines(resp), ["x-mine: 1", "content-type: text/plain;charset=UTF-8", "content-length: 6"]);
    assert.equal(Buffer.from(bodyOf(resp), "latin1").toString("utf8"), "héllo");
  });

  test("bytes, an ArrayBuffer and a Blob get a Content-Length; a Blob its type", async () => {
    routes.set("/u8", () => new R(new Uint8Array([104, 105])));
    routes.set("/ab", () => new R(new Uint8Array([104, 105]).buffer));
    routes.set("/blob", () => new R(new Blob(["blob"], { type: "image/x-test" })));
    assert.deepEqual(headLines(await get("/u8")), ["content-length: 2"]);
    assert.equal(bodyOf(await get("/ab")), "hi");
    const blob = await get("/blob");
    assert.deepEqual(headLines(blob), ["content-type: image/x-test", "content-length: 4"]);
    assert.equal(bodyOf(blob), "blob");
  });

  test("status, statusText, several Set-Cookie lines, a null body (Content-Length 0) and 204 (none)", async () => {
    routes.set("/cookies", () => {
      const h = new FnHeaders();
      h.append("set-cookie", "a=1; Path=/");
      h.append("set-cookie", "b=2");
      h.append("x-list", "1");
      h.append("x-list", "2");
      return new R(null, { status: 201, statusText: "Made", headers: h as unknown as Headers });
    });
    routes.set("/none", () => new R(null, { status: 204, headers: [["x-a", "b"]] }));
    const c = await get("/cookies");
    assert.match(c, /^HTTP\/1\.1 201 Made\r\n/);
    assert.deepEqual(headLines(c), ["set-cookie: a=1; Path=/", "set-cookie: b=2", "x-list: 1, 2", "content-length: 0"]);
    const n = await get("/none");
    assert.match(n, /^HTTP\/1\.1 204 No Content\r\n/);
    assert.deepEqual(headLines(n), ["x-a: b"]);
  });

  test("a Response the function keeps and returns again is written each time (body in memory); a used stream is a 502", async () => {
    const kept = new R("kept", { status: 404 });
    const keptBytes = new R(new Uint8Array([111, 107]));
    routes.set("/kept", () => kept);
    routes.set("/kept-bytes", () => keptBytes);
    for (let i = 0; i < 2; i++) {
      const a = await get("/kept");
      assert.match(a, /^HTTP\/1\.1 404 /);
      assert.equal(bodyOf(a), "kept");
      assert.equal(bodyOf(await get("/kept-bytes")), "ok");
    }
    const once = new R(new ReadableStream({ start(c) { c.enqueue(encoder.encode("once")); c.close(); } }));
    routes.set("/once", () => once);
    assert.equal(bodyOf(await get("/once")), "once");
    assert.match(await get("/once"), /^HTTP\/1\.1 502 /);
  });

  test("HEAD gets the head with the body's length and no body", async () => {
    routes.set("/head", () => new R("twelve bytes"));
    const resp = await raw("HEAD /head HTTP/1.1\r\nHost: t.test");
    assert.deepEqual(headLines(resp), ["content-type: text/plain;charset=UTF-8", "content-length: 12"]);
    assert.equal(bodyOf(resp), "");
  });

  test("a stream that is already complete gets a Content-Length; one that is not is sent chunked as it comes", async () => {
    routes.set("/done", () => new R(new ReadableStream({ start(c) { c.enqueue(encoder.encode("all at once")); c.close(); } })));
    routes.set("/empty", () => new R(new ReadableStream({ start(c) { c.close(); } })));
    routes.set("/slow", () => new R(new ReadableStream({
      async start(c) {
        c.enqueue(encoder.encode("first "));
        await new Promise((r) => setTimeout(r, 30));
        c.enqueue("second (a string chunk)");
        c.close();
      },
    })));
    assert.deepEqual(headLines(await get("/done")), ["content-length: 11"]);
    assert.deepEqual(headLines(await get("/empty")), ["content-length: 0"]);
    const slow = await get("/slow");
    assert.deepEqual(headLines(slow), ["transfer-encoding: chunked"]);
    assert.equal(bodyOf(slow), "6\r\nfirst \r\n17\r\nsecond (a string chunk)\r\n0\r\n\r\n");
  });

  test("node's own Response (as fetch() returns) is written through its public API", async () => {
    routes.set("/node", () => {
      const h = new Headers({ "x-node": "yes" });
      h.append("set-cookie", "n=1");
      h.append("set-cookie", "m=2");
      return new Response("from node", { status: 202, headers: h });
    });
    const resp = await get("/node");
    assert.match(resp, /^HTTP\/1\.1 202 Accepted\r\n/);
    // Its body stream is complete at once, so it gets a Content-Length too.
    assert.deepEqual(headLines(resp), ["content-type: text/plain;charset=UTF-8", "set-cookie: n=1", "set-cookie: m=2", "x-node: yes", "content-length: 9"]);
    assert.equal(bodyOf(resp), "from node");
  });

  test("the Request: method, url as the URL parser serializes it, lower-cased headers, no body for GET", async () => {
    routes.set("/req", async (req) => {
      const names = [...(req.headers as unknown as Iterable<[string, string]>)].map(([k]) => k);
      return FnResponse.json({ method: req.method, url: req.url, names, custom: req.headers.get("X-Custom"), body: req.body, bodyUsed: req.bodyUsed, isRequest: req instanceof FnRequest, mode: req.mode, cache: req.cache });
    });
    const plain = JSON.parse(bodyOf(await get("/req?a=1&b", "\r\nX-Custom: yes")));
    assert.deepEqual(plain, { method: "GET", url: "http://t.test/req?a=1&b", names: ["connection", "host", "x-custom"], custom: "yes", body: null, bodyUsed: false, isRequest: true, mode: "cors", cache: "default" });
    const odd = JSON.parse(bodyOf(await raw("GET /x/../req?q=a%20b'c HTTP/1.1\r\nHost: T.Test:80")));
    assert.equal(odd.url, "http://t.test/req?q=a%20b%27c", "dot segments, case, the default port and quotes as new URL() has them");
    assert.match(await raw("GET /req HTTP/1.1\r\nHost: bad host"), /^HTTP\/1\.1 400 /);
  });

  test("the Request body: text() and json() read node's request directly; body streams it", async () => {
    routes.set("/text", async (req) => new R(`${req.method} ${await req.text()} used=${req.bodyUsed}`));
    routes.set("/json", async (req) => FnResponse.json(await req.json()));
    routes.set("/twice", async (req) => {
      await req.text();
      return req.text().then(() => new R("read twice"), (err: Error) => new R(`${err.name}: ${err.message}`));
    });
    routes.set("/clone", async (req) => {
      const c = req.clone();
      return new R(`${await req.text()}|${await c.text()}`);
    });
    const post = (path: string, body: string) => raw(`POST ${path} HTTP/1.1\r\nHost: t.test\r\nContent-Length: ${Buffer.byteLength(body)}`, body);
    assert.equal(bodyOf(await post("/text", "posted")), "POST posted used=true");
    assert.equal(bodyOf(await post("/json", '{"a":[1,2]}')), '{"a":[1,2]}');
    assert.equal(bodyOf(await post("/twice", "x")), "TypeError: Body is unusable: Body has already been read");
    assert.equal(bodyOf(await post("/clone", "both")), "both|both");
  });

  test("8 MiB stream through the function and back, with backpressure, unchanged", async () => {
    routes.set("/echo", (req) => new R(req.body, { headers: { "content-type": "application/octet-stream" } }));
    const size = 8 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);
    const sent = createHash("sha256");
    const got = createHash("sha256");
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/echo", headers: { "transfer-encoding": "chunked" } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.on("data", (c: Buffer) => {
          got.update(c);
          bytes += c.length;
        });
        res.on("end", resolve);
        res.on("error", reject);
      });
      req.on("error", reject);
      let n = 0;
      const pump = () => {
        while (n < size) {
          sent.update(chunk);
          n += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(bytes, size);
    assert.equal(got.digest("hex"), sent.digest("hex"));
  });

  test("a client that goes away aborts request.signal and cancels the function's stream", async () => {
    let cancelled: (reason: unknown) => void;
    const wasCancelled = new Promise((r) => (cancelled = r));
    let aborted: () => void;
    const wasAborted = new Promise<void>((r) => (aborted = r));
    routes.set("/forever", (req) => {
      req.signal.addEventListener("abort", () => aborted());
      return new R(new ReadableStream({
        pull(c) {
          c.enqueue(encoder.encode("tick\n"));
          return new Promise((r) => setTimeout(r, 10));
        },
        cancel(reason) {
          cancelled(reason);
        },
      }));
    });
    const s = connect(port, "127.0.0.1");
    s.write("GET /forever HTTP/1.1\r\nHost: t.test\r\n\r\n");
    await new Promise((r) => s.once("data", r));
    s.destroy();
    await wasAborted;
    await wasCancelled;
  });

  test("a throw, a non-Response, Response.error() and a stream failing before its first chunk answer 502 x-fnrun-error: threw", async () => {
    routes.set("/throw", () => { throw new Error("boom"); });
    routes.set("/string", () => "not a response");
    routes.set("/error", () => FnResponse.error());
    routes.set("/bad-stream", () => new R(new ReadableStream({ pull() { throw new Error("stream broke"); } })));
    for (const [path, message] of [
      ["/throw", "boom"],
      ["/string", "function returned string, not a Response"],
      ["/error", "the function returned Response.error(), a network error"],
      ["/bad-stream", "stream broke"],
    ]) {
      const resp = await get(path);
      assert.match(resp, /^HTTP\/1\.1 502 /, path);
      assert.ok(headLines(resp).includes("x-fnrun-error: threw"), path);
      assert.deepEqual(JSON.parse(bodyOf(resp)), { error: "function threw", message }, path);
    }
  });

  test("a function that failed to load answers 502 x-fnrun-error: init", async () => {
    const broken = createServer(createFunctionListener({ slot: { handler: undefined, initError: new Error("bad import") }, env: {} }));
    await new Promise<void>((r) => broken.listen(0, "127.0.0.1", r));
    try {
      const body = await new Promise<{ status: number; fnrunError: unknown; text: string }>((resolve, reject) => {
        request({ host: "127.0.0.1", port: (broken.address() as AddressInfo).port, path: "/" }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode!, fnrunError: res.headers["x-fnrun-error"], text }));
        }).on("error", reject).end();
      });
      assert.deepEqual(body, { status: 502, fnrunError: "init", text: '{"error":"function failed to initialize","message":"bad import"}' });
    } finally {
      broken.closeAllConnections();
      await new Promise((r) => broken.close(r));
    }
  });

  test("a light Request given to node's Request constructor (what fetch(request) gets) keeps url, method, headers and body", async () => {
    routes.set("/to-real", async (req) => {
      const real = FnRequest.toReal(req) as Request;
      return FnResponse.json({ isNodes: real instanceof Request, url: real.url, method: real.method, header: real.headers.get("x-h"), body: await real.text(), sourceUsed: req.bodyUsed });
    });
    const resp = await raw("PUT /to-real HTTP/1.1\r\nHost: t.test\r\nX-H: 1\r\nContent-Length: 4", "data");
    assert.deepEqual(JSON.parse(bodyOf(resp)), { isNodes: true, url: "http://t.test/to-real", method: "PUT", header: "1", body: "data", sourceUsed: true });
  });
});
