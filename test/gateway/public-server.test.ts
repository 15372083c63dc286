/**
 * The public listener against what clients may send, over real sockets: a real
 * createPublicServer on 127.0.0.1:0 in front of a real runc container running
 * test/fixtures/gateway-limits/probe.mjs, which records every request it gets. Limits are
 * small and timeouts short (options of createPublicServer) so each case runs in seconds.
 */
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import type { Server } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { removeEmptyParents } from "../../runtime/cgroup.ts";
import { request } from "undici";
import { createPublicServer, type Invoker, type TimeoutEvent } from "../../gateway/public-server.ts";
import { RouteTable } from "../../gateway/routes.ts";
import { timeoutLogger } from "../../gateway/timeout-log.ts";
import { FunctionLogs } from "../../runtime/function-logs.ts";
import { cleanupOrphans, Instance } from "../../runtime/instance.ts";
import type { Lease, Outcome } from "../../runtime/function-pool.ts";
import { Runc } from "../../runtime/runc.ts";
import { imageFor, makeFixture } from "../runtime/rootfs-fixture.ts";

// runc makes the /fnrun parent cgroups for this file's containers; nothing else here removes them.
after(() => removeEmptyParents());

const MiB = 1024 * 1024;
const MAX_BODY = 1 * MiB;
const LIMITS = { maxHeaderBytes: 8 * 1024, maxHeadersCount: 20, headersTimeoutMs: 1000, requestTimeoutMs: 2000, timeoutCheckIntervalMs: 100 };
const TIMEOUT_MS = 700;

/**
 * The Invoker over one real instance at a time, as the pool does it: an instance released
 * with anything but "ok" is stopped and the next acquire starts a new one.
 */
class OneInstanceInvoker implements Invoker {
  acquired = 0;
  outcomes: Outcome[] = [];
  timeouts: TimeoutEvent[] = [];
  started: Instance[] = [];
  #current: Promise<Instance> | null = null;
  constructor(
    readonly start: () => Promise<Instance>,
    readonly onTimeoutLog: (e: TimeoutEvent) => void,
  ) {}
  async acquire(_name: string): Promise<Lease> {
    this.acquired++;
    const instance = await (this.#current ??= this.start().then((i) => (this.started.push(i), i)));
    return {
      instance,
      kind: "warm",
      queueMs: 0,
      startMs: 0,
      createMs: 0,
      specializeMs: 0,
      release: (outcome: Outcome) => {
        this.outcomes.push(outcome);
        if (outcome !== "ok" && this.#current) {
          this.#current = null;
          void instance.stop();
        }
      },
    } as Lease;
  }
  timeoutOf(name: string): number {
    return name === "patient" ? 30_000 : TIMEOUT_MS;
  }
  onTimeout(e: TimeoutEvent): void {
    this.timeouts.push(e);
    this.onTimeoutLog(e);
  }
}

/** Sends `raw` bytes on a fresh connection and resolves with everything the server wrote until it closed. */
function rawExchange(port: number, raw: string | Buffer, opts: { keepWriting?: Buffer } = {}): Promise<{ text: string; status: number }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    let writing = true;
    s.on("data", (d) => (got += d.toString("latin1")));
    s.on("error", (err: NodeJS.ErrnoException) => (err.code === "ECONNRESET" || err.code === "EPIPE" ? undefined : reject(err)));
    s.on("close", () => {
      writing = false;
      resolve({ text: got, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0) });
    });
    s.write(raw);
    const more = opts.keepWriting;
    if (more) {
      // A client that keeps sending until it is answered (and cut off).
      const pump = () => {
        while (writing && !got && s.write(more));
        if (writing && !got) s.once("drain", pump);
      };
      pump();
    }
  });
}

const status = (res: { status: number; text: string }) => res.status;

describe("public server limits (real container behind it)", { timeout: 180_000 }, () => {
  let server: Server;
  let port: number;
  let invoker: OneInstanceInvoker;
  let fx: Awaited<ReturnType<typeof makeFixture>>;
  let runc: Runc;
  let logFile: string;
  let logs: FunctionLogs;
  let routes: RouteTable;

  const stats = async () => {
    const r = await request(`http://127.0.0.1:${port}/probe/stats`);
    return (await r.body.json()) as { requests: number; paths: string[]; bodies: number[]; aborted: number[]; maxBodyBytes: number; streamPulled: number };
  };

  before(async () => {
    fx = await makeFixture({ "probe.mjs": await readFile(new URL("../fixtures/gateway-limits/probe.mjs", import.meta.url), "utf8") });
    runc = new Runc({ root: join(fx.stateDir, "runc") });
    logs = new FunctionLogs({ dir: join(fx.stateDir, "logs") });
    await logs.init();
    logFile = logs.pathOf("probe");
    let seq = 0;
    invoker = new OneInstanceInvoker(
      () => Instance.start({ id: `gw${process.pid}-${seq++}`, stateDir: fx.stateDir, rootfs: fx.rootfs, image: imageFor(fx.image, "probe.mjs"), env: {}, limits: { memoryBytes: 128 * MiB, cpu: 1, pids: 64, tmpBytes: MiB }, output: logs, function: { name: "probe", revision: "r1" }, runc, connections: 16 }),
      timeoutLogger((fn, line) => logs.append(fn, line)),
    );
    routes = new RouteTable(new Map([
      ["probe", [{ method: "*", path: "/probe" }, { method: "*", path: "/probe/*" }]],
      ["patient", [{ method: "*", path: "/patient/*" }]],
    ]));
    server = createPublicServer({ routes: () => routes, invoker, maxBodyBytes: MAX_BODY, limits: LIMITS });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await Promise.allSettled(invoker?.started.map((i) => i.stop()) ?? []);
    await logs?.close();
    if (fx) {
      await cleanupOrphans(fx.stateDir, runc).catch(() => {});
      await rm(fx.root, { recursive: true, force: true });
    }
  });

  test("serves a request, with x-fnrun-start and server-timing, and passes the deadline to the function", async () => {
    const r = await request(`http://127.0.0.1:${port}/probe/deadline`);
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["x-fnrun-start"], "warm");
    assert.match(String(r.headers["server-timing"]), /^queue;dur=0, start;dur=0, handler;dur=\d+\.\d\d$/);
    const body = (await r.body.json()) as { deadline: number; invocationId: string };
    assert.equal(typeof body.deadline, "number");
    assert.ok(body.deadline > Date.now() - 60_000 && body.deadline < Date.now() + 60_000, `a deadline in epoch ms, got ${body.deadline}`);
    assert.match(body.invocationId, /\S+/);
  });

  test("a client cannot speak for the platform: x-fnrun-* request headers are not forwarded", async () => {
    for (const forged of [{ "x-fnrun-deadline": "1", "x-fnrun-invocation-id": "forged" }, { "x-fnrun-ctx": "1 forged" }]) {
      const r = await request(`http://127.0.0.1:${port}/probe/deadline`, { headers: forged });
      const body = (await r.body.json()) as { deadline: number; invocationId: string };
      assert.notEqual(body.deadline, 1, JSON.stringify(forged));
      assert.notEqual(body.invocationId, "forged", JSON.stringify(forged));
    }
  });

  test("a body declared over max_body gets 413 and the function never sees the request", async () => {
    const before = await stats();
    const res = await rawExchange(port, `POST /probe/echo-count HTTP/1.1\r\nhost: x\r\ncontent-length: ${MAX_BODY + 1}\r\n\r\n`, { keepWriting: Buffer.alloc(64 * 1024, 97) });
    assert.equal(status(res), 413);
    assert.match(res.text, /FNRUN_BODY_TOO_LARGE/);
    const after = await stats();
    assert.equal(after.requests, before.requests, "the function saw no request");
  });

  test("a chunked body over max_body gets 413; the function never gets more than max_body of it, nor a complete body", async () => {
    const before = await stats();
    const chunk = Buffer.alloc(64 * 1024, 98);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    const res = await rawExchange(port, "POST /probe/echo-count HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n", { keepWriting: frame });
    assert.equal(status(res), 413);
    assert.match(res.text, /exceeds gateway\.max_body/);
    const after = await stats();
    assert.deepEqual(after.bodies, before.bodies, "no body completed at the function");
    assert.ok(after.maxBodyBytes <= MAX_BODY, `the function read ${after.maxBodyBytes} bytes, max_body is ${MAX_BODY}`);
    // and a chunked body within the limit passes whole
    const ok = await request(`http://127.0.0.1:${port}/probe/echo-count`, { method: "POST", body: Readable.from((function* () { for (let i = 0; i < 8; i++) yield chunk; })()) });
    assert.equal(ok.statusCode, 200);
    assert.equal(await ok.body.text(), String(8 * chunk.length));
  });

  test("an oversized request head gets 431, as do too many header fields; the function sees neither", async () => {
    const before = await stats();
    const big = await rawExchange(port, `GET /probe/x HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(LIMITS.maxHeaderBytes)}\r\n\r\n`);
    assert.equal(status(big), 431);
    assert.match(big.text, /FNRUN_HEADERS_TOO_LARGE/);
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: ${i}\r\n`).join("");
    const many = await rawExchange(port, `GET /probe/x HTTP/1.1\r\nhost: x\r\n${fields(LIMITS.maxHeadersCount)}\r\n`);
    assert.equal(status(many), 431, many.text);
    const atLimit = await rawExchange(port, `GET /probe/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${fields(LIMITS.maxHeadersCount - 2)}\r\n`);
    assert.equal(status(atLimit), 200, "exactly maxHeadersCount fields are served");
    assert.equal((await stats()).requests, before.requests + 1, "only the request within the limits reached the function");
  });

  test("conflicting Content-Length and Transfer-Encoding are 400, and the insecure parser is off", async () => {
    const before = await stats();
    const both = await rawExchange(port, "POST /probe/echo-count HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert.equal(status(both), 400);
    const twoLengths = await rawExchange(port, "POST /probe/echo-count HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!");
    assert.equal(status(twoLengths), 400);
    const bareLf = await rawExchange(port, "GET /probe/x HTTP/1.1\nhost: x\n\n");
    assert.equal(status(bareLf), 400);
    assert.equal((await stats()).requests, before.requests);
    assert.equal((server as Server & { insecureHTTPParser?: boolean }).insecureHTTPParser, false);
  });

  test("a slowloris client (head one byte at a time) is cut off with 408 while others are served", async () => {
    const slow = new Promise<{ text: string; closed: boolean }>((resolve) => {
      const s: Socket = connect(port, "127.0.0.1");
      const head = "GET /probe/x HTTP/1.1\r\nhost: x\r\nx-slow: " + "a".repeat(4000);
      let i = 0;
      let got = "";
      const timer = setInterval(() => (i < head.length ? s.write(head[i++]) : undefined), 20);
      s.on("data", (d) => (got += d));
      s.on("error", () => {});
      s.on("close", () => {
        clearInterval(timer);
        resolve({ text: got, closed: true });
      });
    });
    let served = 0;
    let done = false;
    void slow.then(() => (done = true));
    while (!done) {
      const r = await request(`http://127.0.0.1:${port}/probe/x`);
      assert.equal(r.statusCode, 200);
      await r.body.text();
      served++;
    }
    const result = await slow;
    assert.match(result.text, /^HTTP\/1\.1 408 /);
    assert.ok(served > 0, "other clients were served meanwhile");
  });

  test("a client sending its body too slowly is cut off by the request timeout", async () => {
    const res = await new Promise<{ text: string }>((resolve) => {
      const s = connect(port, "127.0.0.1");
      let got = "";
      s.write("POST /patient/echo-count HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n");
      const timer = setInterval(() => s.write("x"), 50);
      s.on("data", (d) => (got += d));
      s.on("error", () => {});
      s.on("close", () => {
        clearInterval(timer);
        resolve({ text: got });
      });
    });
    // The head was in time, so the request reached the function (whose own timeout is far
    // off); the gateway answers 408 when the whole request was not in within requestTimeout.
    assert.match(res.text, /^HTTP\/1\.1 408 /);
    assert.equal((await request(`http://127.0.0.1:${port}/probe/x`)).statusCode, 200);
  });

  for (const target of ["/probe/..", "/probe/../probe/x", "/probe/%2e%2e/x", "/probe/%2E%2e", "/probe/.%2E/etc/passwd", "/probe/..%2f..%2fetc%2fpasswd", "/probe/..%5c..%5cwin", "/probe/.", "/probe/%00", "/probe/a%00b", `/probe/${"a".repeat(256)}`, "/probe/%zz", "http://x/probe/x", "HTTP://x/probe/x", "*"]) {
    test(`request target ${target.length > 40 ? target.slice(0, 20) + "…" : target} is refused before routing`, async () => {
      const acquired = invoker.acquired;
      const method = target === "*" ? "OPTIONS" : "GET";
      const res = await rawExchange(port, `${method} ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      assert.ok([400, 404].includes(status(res)), `${target}: ${res.text}`);
      assert.equal(invoker.acquired, acquired, "no instance was asked");
    });
  }

  test("a raw NUL in the target is refused by the parser", async () => {
    const acquired = invoker.acquired;
    const res = await rawExchange(port, Buffer.from("GET /probe/a\0b HTTP/1.1\r\nhost: x\r\n\r\n", "latin1"));
    assert.equal(status(res), 400);
    assert.equal(invoker.acquired, acquired);
  });

  for (const target of ["/v1/functions", "//v1/health", "/%761/health", "/v1/../v1/health", "http://x/v1/functions", "/v1/functions/probe/invoke"]) {
    test(`control API path ${target} is not served`, async () => {
      const acquired = invoker.acquired;
      const res = await rawExchange(port, `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      assert.ok([400, 404].includes(status(res)), res.text);
      assert.equal(invoker.acquired, acquired);
    });
  }

  test("a function over its timeout: 504 that says so, the instance is not reused, its log says it timed out", async () => {
    const first = invoker.started.length;
    const r = await request(`http://127.0.0.1:${port}/probe/slow?ms=60000`);
    assert.equal(r.statusCode, 504);
    const body = (await r.body.json()) as { code: string; message: string };
    assert.equal(body.code, "FNRUN_TIMEOUT");
    assert.match(body.message, /function `probe` did not answer within its timeout of 700 ms/);
    assert.equal(invoker.outcomes.at(-1), "timeout", "released as timed out: the pool retires it");
    const ev = invoker.timeouts.at(-1)!;
    assert.equal(ev.fn, "probe");
    assert.equal(ev.target, "/probe/slow?ms=60000");
    // The next request is served by a new instance.
    assert.equal((await request(`http://127.0.0.1:${port}/probe/x`)).statusCode, 200);
    assert.equal(invoker.started.length, first + 1);
    let log = "";
    for (let i = 0; i < 50 && !log.includes(ev.invocationId); i++) {
      log = await readFile(logFile, "utf8");
      if (!log.includes(ev.invocationId)) await new Promise((r) => setTimeout(r, 20)); // appendFile is async
    }
    assert.match(log, new RegExp(`invocation ${ev.invocationId} \\(GET /probe/slow\\?ms=60000\\) timed out after 700 ms`));
  });

  test("an idle keep-alive connection is closed after keepAliveTimeoutMs; one whose answer takes longer is not", async () => {
    const IDLE_MS = 400;
    const short = createPublicServer({ routes: () => routes, invoker, maxBodyBytes: MAX_BODY, limits: { ...LIMITS, keepAliveTimeoutMs: IDLE_MS } });
    await new Promise<void>((r) => short.listen(0, "127.0.0.1", r));
    const shortPort = (short.address() as { port: number }).port;
    const idleSockets: Socket[] = [];
    /** One keep-alive request; resolves with its answer, then with when the server closed the connection. */
    const keepAlive = (target: string) => {
      const s = connect(shortPort, "127.0.0.1");
      let got = "";
      let answeredAt = 0;
      const answered = new Promise<string>((resolve) =>
        s.on("data", (d) => {
          got += d;
          if (/\r\n\r\n[^]*(hello|slow done)$/.test(got)) {
            answeredAt = performance.now();
            resolve(got);
          }
        }),
      );
      // -1: still open 5 s after the answer, far past the timeout.
      const closed = new Promise<number>((resolve) => {
        s.on("close", () => resolve(performance.now() - answeredAt));
        void answered.then(() => setTimeout(() => resolve(-1), 5000).unref());
      });
      s.on("error", () => {});
      s.write(`GET ${target} HTTP/1.1\r\nhost: x\r\n\r\n`);
      idleSockets.push(s);
      return { answered, closed };
    };
    try {
      const idle = keepAlive("/patient/x");
      assert.match(await idle.answered, /^HTTP\/1\.1 200 [^]*\r\nconnection: keep-alive\r\n/i);
      const idleFor = await idle.closed;
      assert.notEqual(idleFor, -1, "an idle connection was still open 5 s after its answer");
      assert.ok(idleFor >= IDLE_MS, `closed ${idleFor.toFixed(0)} ms after its answer, before the ${IDLE_MS} ms keep-alive timeout`);

      // Three times the idle timeout waiting for the function: a request in progress keeps its connection.
      const slow = keepAlive(`/patient/slow?ms=${3 * IDLE_MS}`);
      assert.match(await slow.answered, /^HTTP\/1\.1 200 [^]*slow done$/);
      const slowIdleFor = await slow.closed;
      assert.ok(slowIdleFor >= IDLE_MS, `and it too is closed once idle (${slowIdleFor.toFixed(0)} ms after its answer)`);
    } finally {
      idleSockets.forEach((s) => s.destroy());
      short.closeAllConnections();
      await new Promise((r) => short.close(r));
    }
  });

  test("backpressure: a client that does not read stalls the function's stream; reading resumes it to the end", async () => {
    const mib = 128;
    const s = connect(port, "127.0.0.1");
    s.pause(); // read nothing yet
    s.write(`GET /patient/stream?mib=${mib} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    // Poll the function's own count until it stops moving (the stream stalled).
    let last = -1;
    let pulled = (await stats()).streamPulled;
    for (let i = 0; i < 200 && pulled !== last; i++) {
      last = pulled;
      await new Promise((r) => setTimeout(r, 150));
      pulled = (await stats()).streamPulled;
    }
    assert.equal(pulled, last, "the stream stalled");
    assert.ok(pulled < 64 * MiB, `the function produced ${pulled} bytes for a client that read none`);
    // Now read it all: every byte arrives.
    const received = await new Promise<number>((resolve, reject) => {
      let n = 0;
      s.on("data", (d: Buffer) => (n += d.length));
      s.on("end", () => resolve(n));
      s.on("error", reject);
      s.resume();
    });
    assert.ok(received > mib * MiB, `received ${received} bytes`);
  });
});
