/**
 * The fetch classes a function sees in a real container: the bootstrap's light Request,
 * Response and Headers are the globals, node's own (its undici) stay unloaded for a cold
 * start until the function needs them (fetch(), FormData, a Request of its own), and a stem
 * cell has them loaded already. Bodies of every kind reach the client as the Fetch standard
 * says (Content-Type defaults, Set-Cookie lines, statusText).
 */
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { baseImageConfig } from "../../builder/base-layout.ts";
import { removeEmptyParents } from "../../runtime/cgroup.ts";
import { cleanupOrphans, Instance, type InstanceOptions } from "../../runtime/instance.ts";
import { Runc } from "../../runtime/runc.ts";
import { imageFor, makeFixture } from "./rootfs-fixture.ts";

after(() => removeEmptyParents());

const MiB = 1024 * 1024;
const LIMITS = { memoryBytes: 96 * MiB, cpu: 0.5, pids: 64, tmpBytes: 8 * MiB };

const WEB_FN = `
const undiciLoaded = () => process.moduleLoadList.some((m) => m.includes("undici"));
class Created extends Response {
  constructor(body) { super(body, { status: 201, statusText: "Made Here" }); }
}
export default {
  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/undici": return new Response(String(undiciLoaded()));
      case "/classes": return Response.json({
        request: request instanceof Request, headers: request.headers instanceof Headers,
        ours: Request.name + "," + Response.name + "," + Headers.name,
        undici: undiciLoaded(),
      });
      case "/hono-like": {
        const h = new Headers();
        h.set("x-powered-by", "hono-ish");
        h.append("set-cookie", "a=1; Path=/");
        h.append("set-cookie", "b=2; HttpOnly");
        return new Response("<p>hi</p>", { headers: h });
      }
      case "/string-with-headers": return new Response("plain", { headers: { "cache-control": "no-store" } });
      case "/params": return new Response(new URLSearchParams({ a: "1", b: "two words" }));
      case "/blob": return new Response(new Blob(["png?"], { type: "image/png" }));
      case "/subclass": return new Created("created");
      case "/form": { const f = new FormData(); f.append("field", "value"); return new Response(f); }
      case "/fetch": {
        const r = await fetch("data:text/plain;charset=utf-8,fetched%20text");
        return Response.json({ isResponse: r instanceof Response, headersAreHeaders: r.headers instanceof Headers, text: await r.text() });
      }
      case "/return-fetch": return fetch(new Request("data:application/json,%7B%22via%22%3A%22fetch%22%7D"));
      case "/own-request": {
        const own = new Request(request, { headers: { "x-added": "1" } });
        return Response.json({ isRequest: own instanceof Request, url: own.url, method: own.method, added: own.headers.get("x-added"), body: await own.text() });
      }
      default: return new Response("no such path", { status: 404 });
    }
  },
};
`;

describe("the fetch classes in a container (real runc)", async () => {
  const fx = await makeFixture({ "web.mjs": WEB_FN });
  const runc = new Runc({ root: join(fx.stateDir, "runc") });
  const started: Instance[] = [];
  let seq = 0;
  const base: Omit<InstanceOptions, "id"> = { stateDir: fx.stateDir, rootfs: fx.rootfs, image: imageFor(fx.image, "web.mjs"), env: {}, limits: LIMITS, logFile: join(fx.stateDir, "web.log"), runc };
  const start = async (extra: Partial<InstanceOptions> = {}) => {
    const inst = await Instance.start({ ...base, id: `w${process.pid}-${seq++}`, ...extra });
    started.push(inst);
    return inst;
  };
  after(async () => {
    await Promise.allSettled(started.map((i) => i.stop()));
    await cleanupOrphans(fx.stateDir, runc).catch(() => {});
    await rm(fx.root, { recursive: true, force: true });
  });

  const ask = async (inst: Instance, path: string, init: { method?: string; body?: string } = {}) => {
    const res = await inst.dispatcher.request({ path, method: (init.method ?? "GET") as "GET", body: init.body, headers: { host: "web.test" } });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  const cold = await start();

  test("a cold start serves without loading node's undici; the globals are the light classes", async () => {
    assert.equal((await ask(cold, "/undici")).text, "false", "undici is not loaded by the bootstrap");
    assert.deepEqual(JSON.parse((await ask(cold, "/classes")).text), { request: true, headers: true, ours: "Request,Response,Headers", undici: false });
  });

  test("Content-Type defaults, several Set-Cookie lines, statusText and a subclass of Response", async () => {
    const hono = await ask(cold, "/hono-like");
    assert.equal(hono.headers["content-type"], "text/plain;charset=UTF-8", "a string body implies text/plain even with a Headers given");
    assert.deepEqual(hono.headers["set-cookie"], ["a=1; Path=/", "b=2; HttpOnly"]);
    assert.equal(hono.headers["x-powered-by"], "hono-ish");
    assert.equal(hono.headers["content-length"], "9");
    const s = await ask(cold, "/string-with-headers");
    assert.deepEqual([s.headers["content-type"], s.headers["cache-control"], s.text], ["text/plain;charset=UTF-8", "no-store", "plain"]);
    const p = await ask(cold, "/params");
    assert.deepEqual([p.headers["content-type"], p.text], ["application/x-www-form-urlencoded;charset=UTF-8", "a=1&b=two+words"]);
    const b = await ask(cold, "/blob");
    assert.deepEqual([b.headers["content-type"], b.headers["content-length"], b.text], ["image/png", "4", "png?"]);
    const sub = await ask(cold, "/subclass");
    assert.deepEqual([sub.status, sub.text], [201, "created"]);
  });

  test("what needs node's own classes loads them then: FormData, fetch(), a Request of the function's own", async () => {
    const f = await ask(cold, "/form");
    assert.match(String(f.headers["content-type"]), /^multipart\/form-data; boundary=/);
    assert.match(f.text, /name="field"\r\n\r\nvalue\r\n/);
    assert.deepEqual(JSON.parse((await ask(cold, "/fetch")).text), { isResponse: true, headersAreHeaders: true, text: "fetched text" });
    const viaFetch = await ask(cold, "/return-fetch");
    assert.deepEqual([viaFetch.status, viaFetch.headers["content-type"], viaFetch.text], [200, "application/json", '{"via":"fetch"}']);
    const own = await ask(cold, "/own-request", { method: "POST", body: "sent along" });
    assert.deepEqual(JSON.parse(own.text), { isRequest: true, url: "http://web.test/own-request", method: "POST", added: "1", body: "sent along" });
    assert.equal((await ask(cold, "/undici")).text, "true");
  });

  test("a stem cell has node's own classes loaded while it waits, so its function never pays for them", async () => {
    const stem = await start({ image: baseImageConfig(), stem: true });
    const bundle = join(fx.rootfs, "app", "web.mjs");
    await stem.specialize({ name: "web", revision: "r1", bundlePath: bundle, env: {}, limits: { memoryBytes: LIMITS.memoryBytes, cpu: LIMITS.cpu, pids: LIMITS.pids } });
    assert.equal((await ask(stem, "/undici")).text, "true");
    assert.deepEqual(JSON.parse((await ask(stem, "/classes")).text).ours, "Request,Response,Headers");
    assert.doesNotMatch(await readFile(base.logFile!, "utf8"), /warm-up failed/);
  });
});
