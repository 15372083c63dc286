/**
 * The deploy history (gateway/deploy-history.ts): every deploy, image deploy and removal made
 * through the wrapped deployer is recorded with its outcome, failures with their error (and
 * still thrown); newest first, bounded, and kept across a restart in <state>/deploy-history.json.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DeployHistory, HISTORY_LIMIT, type Deploys } from "../../gateway/deploy-history.ts";
import type { DeployResult } from "../../gateway/deployer.ts";

const result = (name: string, revision: string): DeployResult => ({ name, revision, image: "sha256:x", routes: [], dockerfile: "", timings: { build: 1, start: 1, total: 2 } });

/** A deployer whose deploys of `bad` fail as a build error would, and whose removals know only `known`. */
function deployer(known: Set<string>): Deploys {
  return {
    async deploy(fc) {
      if (fc.name === "bad") throw Object.assign(new Error(`build ${fc.dir}/index.ts:3:22: Unexpected ")"`), { code: "FNRUN_BUILD_FAILED" });
      known.add(fc.name);
      return result(fc.name, `rev-${fc.name}`);
    },
    async deployImage(fc, image) {
      known.add(fc.name);
      return result(fc.name, `img-${image.ref.length}`);
    },
    async remove(name) {
      return known.delete(name);
    },
  };
}

describe("deploy history", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fnrun-deploy-history-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("records deploys, image deploys, failures (still thrown) and removals, newest first; a removal of nothing is not history", async () => {
    const history = new DeployHistory(dir);
    await history.load();
    const d = history.instrument(deployer(new Set()));
    await d.deploy({ name: "hello", dir: "/fns/hello" });
    await assert.rejects(d.deploy({ name: "bad", dir: "/fns/bad" }), { code: "FNRUN_BUILD_FAILED" });
    await d.deployImage({ name: "api", dir: "/fns/api" }, { ref: "127.0.0.1:5000/api:1" });
    assert.equal(await d.remove("hello"), true);
    assert.equal(await d.remove("never-deployed"), false);

    const events = history.recent();
    assert.deepEqual(events.map((e) => [e.action, e.name, e.ok, e.revision, e.source]), [
      ["remove", "hello", true, null, undefined],
      ["deploy", "api", true, "img-20", "127.0.0.1:5000/api:1"],
      ["deploy", "bad", false, null, "/fns/bad"],
      ["deploy", "hello", true, "rev-hello", "/fns/hello"],
    ]);
    assert.equal(events[2].error, 'build /fns/bad/index.ts:3:22: Unexpected ")"');
    for (const e of events) {
      assert.ok(Number.isFinite(Date.parse(e.at)), e.at);
      assert.ok(e.ms >= 0);
    }
    assert.deepEqual(history.recent(10, "hello").map((e) => e.action), ["remove", "deploy"]);
    assert.equal(history.recent(1).length, 1);

    // Kept across a restart, written 0600.
    await history.flushed();
    assert.equal((await stat(join(dir, "deploy-history.json"))).mode & 0o777, 0o600);
    const again = new DeployHistory(dir);
    await again.load();
    assert.deepEqual(again.recent(), events);
  });

  test(`keeps the newest ${HISTORY_LIMIT} events and cuts a long error`, async () => {
    const history = new DeployHistory(dir);
    await history.load();
    for (let i = 0; i < HISTORY_LIMIT + 20; i++) history.add({ action: "deploy", name: `f${i}`, revision: "r", at: new Date().toISOString(), ms: 1, ok: true });
    history.add({ action: "deploy", name: "long", revision: null, at: new Date().toISOString(), ms: 1, ok: false, error: "x".repeat(5000) });
    const events = history.recent();
    assert.equal(events.length, HISTORY_LIMIT);
    assert.equal(events[0].name, "long");
    assert.equal(events.at(-1)!.name, `f${21}`);
    assert.equal(events[0].error!.length, 1001);
    await history.flushed();
    const saved = JSON.parse(await readFile(join(dir, "deploy-history.json"), "utf8")) as { events: unknown[] };
    assert.equal(saved.events.length, HISTORY_LIMIT);
  });

  test("a damaged file is reported and the history starts again, without failing the daemon", async () => {
    await writeFile(join(dir, "deploy-history.json"), "{not json");
    const problems: string[] = [];
    const history = new DeployHistory(dir, (err) => problems.push(err.message));
    await history.load();
    assert.deepEqual(history.recent(), []);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /deploy-history\.json: not JSON .*; starting a new one/);
  });
});
