/**
 * The bootstrap's cron endpoint, `POST /__fnrun/scheduled`, and the `hasScheduled` of its
 * state answer: the real bootstrap bundle run by node on the host (the protocol does not
 * depend on the container; the e2e suite test/gateway/jobs.test.ts runs it in runc).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Pool } from "undici";
import { bootstrapBundle } from "../../runtime/bootstrap/build.ts";

const MODULES: Record<string, string> = {
  both: `export default {
    fetch: () => new Response("hi"),
    async scheduled(event, env, ctx) {
      console.log("ran", event.cron, event.scheduledTime, env.K, ctx.invocationId, typeof ctx.deadline);
      ctx.waitUntil(new Promise((r) => setTimeout(r, 30)).then(() => console.log("later")));
    },
  };`,
  thrower: `export default { fetch: () => new Response("hi"), scheduled() { throw new Error("nope"); } };`,
  fetchonly: `export default { fetch: () => new Response("hi") };`,
  plain: `export default () => new Response("plain");`,
  cronly: `export default { scheduled() {} };`,
};

describe("bootstrap: POST /__fnrun/scheduled", () => {
  const children: ChildProcess[] = [];
  const pools: Pool[] = [];
  let dir: string;
  after(async () => {
    for (const p of pools) await p.destroy().catch(() => {});
    for (const c of children) c.kill("SIGKILL");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts the bootstrap serving `mod`; resolves with a dispatcher and its output. */
  async function serve(mod: string) {
    dir ??= await mkdtemp(path.join(os.tmpdir(), "fnrun-"));
    const d = await mkdtemp(path.join(dir, `${mod}-`));
    await writeFile(path.join(d, "bootstrap.mjs"), await bootstrapBundle());
    await writeFile(path.join(d, "index.mjs"), MODULES[mod]);
    const child = spawn(process.execPath, [path.join(d, "bootstrap.mjs")], {
      env: { PATH: process.env.PATH, FNRUN_SOCKET_DIR: d, FNRUN_ENTRY: path.join(d, "index.mjs"), FNRUN_ENV_KEYS: "K", K: "v" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (out += c));
    const sock = path.join(d, "fn.sock");
    for (let i = 0; ; i++) {
      if (await access(sock).then(() => true, () => false)) break;
      if (i > 400) throw new Error(`bootstrap did not listen: ${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const pool = new Pool("http://fnrun", { socketPath: sock });
    pools.push(pool);
    const post = async (body: unknown, headers: Record<string, string> = {}) => {
      const res = await pool.request({ path: "/__fnrun/scheduled", method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
      return { status: res.statusCode, error: res.headers["x-fnrun-error"], body: (await res.body.json()) as { ok?: boolean; error?: string; message?: string } };
    };
    const state = async () => (await (await pool.request({ path: "/__fnrun/load", method: "GET" })).body.json()) as { hasScheduled: boolean; ok: boolean };
    return { pool, post, state, out: () => out };
  }

  test("200 when scheduled() and its waitUntil work resolved; event, env and ctx as documented; lines tagged with the invocation id", async () => {
    const b = await serve("both");
    assert.equal((await b.state()).hasScheduled, true);
    const r = await b.post({ cron: "0 3 * * *", scheduledTime: 1234 }, { "x-fnrun-invocation-id": "job-x-1", "x-fnrun-deadline": String(Date.now() + 5000) });
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
    assert.match(b.out(), /ran 0 3 \* \* \* 1234 v job-x-1 number/);
    assert.match(b.out(), /\u001eINV job-x-1\u001flater/, "waitUntil work ended before the answer, inside the invocation");
  });

  test("502 x-fnrun-error: threw when scheduled() throws", async () => {
    const b = await serve("thrower");
    const r = await b.post({ cron: "@daily", scheduledTime: 1 });
    assert.deepEqual([r.status, r.error, r.body.error, r.body.message], [502, "threw", "function threw", "nope"]);
  });

  test("501 when the module has no scheduled(); hasScheduled false", async () => {
    for (const mod of ["fetchonly", "plain"]) {
      const b = await serve(mod);
      assert.equal((await b.state()).hasScheduled, false);
      const r = await b.post({ cron: "@daily", scheduledTime: 1 });
      assert.deepEqual([r.status, r.error, r.body.message], [501, "no-scheduled", "the function exports no scheduled() handler"]);
    }
  });

  test("a cron-only module loads; its requests get 404; a bad event is 400, a GET 405", async () => {
    const b = await serve("cronly");
    assert.deepEqual(await b.state(), { phase: "loaded", ok: true, hasScheduled: true });
    const res = await b.pool.request({ path: "/cronly", method: "GET" });
    assert.equal(res.statusCode, 404);
    assert.match(await res.body.text(), /exports only scheduled\(\)/);
    const bad = await b.post({ cron: 1 });
    assert.deepEqual([bad.status, bad.error], [400, "scheduled"]);
    const get = await b.pool.request({ path: "/__fnrun/scheduled", method: "GET" });
    assert.equal(get.statusCode, 405);
    await get.body.dump();
  });
});
