/**
 * How the bootstrap chooses where to listen and how it stops, run by node on the host (the
 * choice depends on the env only; test/runtime/portable-image.test.ts runs the same in runc):
 * FNRUN_SOCKET_DIR wins over a function's own PORT, the drain waits for ctx.waitUntil work and
 * is bounded by FNRUN_DRAIN_TIMEOUT, a second signal or fnrun's socket mode exits at once.
 * Plus the pure parts: the env rule, PORT and FNRUN_DRAIN_TIMEOUT parsing.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Pool, request } from "undici";
import { bootstrapBundle } from "../../runtime/bootstrap/build.ts";
import { drainTimeoutMs } from "../../runtime/bootstrap/drain.ts";
import { functionEnv } from "../../runtime/bootstrap/function-module.ts";
import { listenTarget } from "../../runtime/bootstrap/listener.ts";

const FN = `export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/slow") { await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms")))); return new Response("slow done"); }
    if (url.pathname === "/later") {
      ctx.waitUntil(new Promise((r) => setTimeout(r, 400)).then(() => console.log("waitUntil work done")));
      return new Response("answered before the work");
    }
    return new Response("port " + (process.env.PORT ?? "-"));
  },
};`;

describe("bootstrap modes (host node)", () => {
  const children: ChildProcess[] = [];
  let dir: string;
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(prefix: string): Promise<string> {
    dir ??= await mkdtemp(path.join(os.tmpdir(), "fnrun-modes-"));
    return mkdtemp(path.join(dir, prefix));
  }

  async function start(env: Record<string, string>) {
    const d = await tempDir("b-");
    await writeFile(path.join(d, "bootstrap.mjs"), await bootstrapBundle());
    await writeFile(path.join(d, "index.mjs"), FN);
    const child = spawn(process.execPath, [path.join(d, "bootstrap.mjs")], { env: { PATH: process.env.PATH, FNRUN_ENTRY: path.join(d, "index.mjs"), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (out += c));
    const exited = new Promise<number | string>((r) => child.once("exit", (code, sig) => r(code ?? sig ?? -1)));
    return { dir: d, child, out: () => out, exited };
  }

  /** Starts a standalone bootstrap on PORT=0 and resolves with the port its log line names. */
  async function standalone(env: Record<string, string> = {}) {
    const b = await start({ PORT: "0", ...env });
    for (let i = 0; ; i++) {
      const m = /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(b.out());
      if (m) return { ...b, base: `http://127.0.0.1:${m[1]}` };
      if (i > 400 || b.child.exitCode !== null) assert.fail(`bootstrap did not listen: ${b.out()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  test("FNRUN_SOCKET_DIR wins over PORT: a function's own PORT never moves an fnrun instance to TCP", async () => {
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = String((free.address() as { port: number }).port);
    await new Promise((r) => free.close(r));
    const sock = await tempDir("s-");
    const under = await start({ FNRUN_SOCKET_DIR: sock, FNRUN_ENV_KEYS: "PORT", PORT: port });
    for (let i = 0; !(await access(path.join(sock, "fn.sock")).then(() => true, () => false)); i++) {
      if (i > 400) assert.fail(`no socket: ${under.out()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const pool = new Pool("http://fnrun", { socketPath: path.join(sock, "fn.sock") });
    try {
      const res = await pool.request({ path: "/", method: "GET" });
      assert.equal(await res.body.text(), `port ${port}`, "the function sees its PORT");
    } finally {
      await pool.destroy();
    }
    const tcp = await new Promise<string>((resolve) => {
      const s = connect(Number(port), "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve("connected")));
      s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    assert.equal(tcp, "ECONNREFUSED", "nothing listens on PORT");
    assert.doesNotMatch(under.out(), /listening/);
  });

  test("under fnrun (socket) SIGTERM exits at once, whatever is in flight: the runtime owns the stop", async () => {
    const sock = await tempDir("s-");
    const b = await start({ FNRUN_SOCKET_DIR: sock, FNRUN_ENV_KEYS: "" });
    for (let i = 0; !(await access(path.join(sock, "fn.sock")).then(() => true, () => false)); i++) {
      if (i > 400) assert.fail(`no socket: ${b.out()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const pool = new Pool("http://fnrun", { socketPath: path.join(sock, "fn.sock") });
    const slow = pool.request({ path: "/slow?ms=30000", method: "GET" }).then(() => "answered", (err: Error) => `cut: ${err.message}`);
    await new Promise((r) => setTimeout(r, 200));
    b.child.kill("SIGTERM");
    assert.equal(await b.exited, 0);
    assert.match(await slow, /^cut: /);
    await pool.destroy();
  });

  test("standalone: the drain waits for ctx.waitUntil work after the answer, then exits 0", async () => {
    const b = await standalone();
    const res = await request(`${b.base}/later`);
    assert.equal(await res.body.text(), "answered before the work");
    b.child.kill("SIGTERM");
    assert.equal(await b.exited, 0);
    const out = b.out();
    assert.ok(out.indexOf("waitUntil work done") !== -1 && out.indexOf("waitUntil work done") < out.indexOf("fnrun: drained; exiting"), out);
  });

  test("standalone: past FNRUN_DRAIN_TIMEOUT it says what it cut and exits 1; a second signal exits 1 at once", async () => {
    const b = await standalone({ FNRUN_DRAIN_TIMEOUT: "300ms" });
    const slow = request(`${b.base}/slow?ms=30000`).then(() => "answered", () => "cut");
    await new Promise((r) => setTimeout(r, 200));
    b.child.kill("SIGTERM");
    assert.equal(await b.exited, 1);
    assert.equal(await slow, "cut");
    assert.match(b.out(), /^fnrun: drain timeout \(0\.3s\): exiting with 1 request\(s\) and 0 waitUntil promise\(s\) unfinished$/m);

    const c = await standalone();
    const slow2 = request(`${c.base}/slow?ms=30000`).then(() => "answered", () => "cut");
    await new Promise((r) => setTimeout(r, 200));
    c.child.kill("SIGINT");
    for (let i = 0; !/draining 1 request/.test(c.out()); i++) {
      if (i > 400) assert.fail(c.out());
      await new Promise((r) => setTimeout(r, 10));
    }
    c.child.kill("SIGINT");
    assert.equal(await c.exited, 1);
    assert.equal(await slow2, "cut");
    assert.match(c.out(), /^fnrun: SIGINT again: exiting now with 1 request\(s\) in flight$/m);
  });

  test("standalone: a port in use exits 1 naming the port and the fix", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "0.0.0.0", r));
    const port = (taken.address() as { port: number }).port;
    try {
      const b = await start({ PORT: String(port) });
      assert.equal(await b.exited, 1);
      assert.match(b.out(), new RegExp(`^fnrun: cannot listen on 0\\.0\\.0\\.0:${port}: EADDRINUSE: something else listens there; choose another PORT$`, "m"));
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  test("the env argument: FNRUN_ENV_KEYS when set (empty = none); else every variable but FNRUN_* and the image's own", () => {
    const proc = { PATH: "/bin", NODE_ENV: "production", PORT: "8080", HOME: "/app", HOSTNAME: "h", FNRUN_ENTRY: "/app/index.mjs", FNRUN_CRON: "x", A: "1", B: "2" };
    assert.deepEqual(functionEnv(proc), { A: "1", B: "2" });
    assert.deepEqual(functionEnv({ ...proc, FNRUN_ENV_KEYS: "B,PORT,MISSING" }), { B: "2", PORT: "8080" });
    assert.deepEqual(functionEnv({ ...proc, FNRUN_ENV_KEYS: "" }), {});
  });

  test("PORT and FNRUN_DRAIN_TIMEOUT parsing", () => {
    assert.deepEqual(listenTarget({}), { kind: "tcp", port: 8080 });
    assert.deepEqual(listenTarget({ PORT: "" }), { kind: "tcp", port: 8080 });
    assert.deepEqual(listenTarget({ PORT: " 3000 " }), { kind: "tcp", port: 3000 });
    assert.deepEqual(listenTarget({ PORT: "3000", FNRUN_SOCKET_DIR: "/run/fnrun" }), { kind: "socket", dir: "/run/fnrun" });
    assert.deepEqual(listenTarget({ PORT: "3000", FNRUN_SOCKET_DIR: "" }), { kind: "tcp", port: 3000 }, "an empty FNRUN_SOCKET_DIR is unset");
    for (const bad of ["http", "65536", "-1", "80.5"]) assert.throws(() => listenTarget({ PORT: bad }), { message: `PORT must be a TCP port number (0-65535), got "${bad}": set PORT=8080 or leave it unset` });
    assert.equal(drainTimeoutMs(undefined), 25_000);
    assert.equal(drainTimeoutMs("10"), 10_000);
    assert.equal(drainTimeoutMs("2.5s"), 2500);
    assert.equal(drainTimeoutMs("500ms"), 500);
    assert.equal(drainTimeoutMs("1m"), 60_000);
    assert.throws(() => drainTimeoutMs("soon"), { message: 'FNRUN_DRAIN_TIMEOUT must be a duration like "25s", "500ms", "1m" or a number of seconds, got "soon"' });
  });
});
