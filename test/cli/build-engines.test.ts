/**
 * [build] engine: the same function folder built by the embedded engine and by buildah (the
 * generated Dockerfile and context handed to `buildah bud`, the result imported from an OCI
 * layout), each deployed by a real daemon into runc containers: both answer the same.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { after, describe, test } from "node:test";
import { request } from "undici";
import { ROOT, startDaemonProcess, type DaemonProcess } from "../helpers/daemon-process.ts";
import { ConfigError, parseConfig } from "../../gateway/config.ts";

const GOOD = join(ROOT, "test/fixtures/builder/good");
const config = (engine: string) => `[gateway]\nlisten = "127.0.0.1:0"\n[build]\nengine = "${engine}"\n[pool]\nstem_cells = 0\n[functions.good]\ndir = "${GOOD}"\n`;

const daemons: DaemonProcess[] = [];
after(async () => {
  for (const d of daemons) await d.stop();
  // State dirs hold images and buildah's storage: removed, not left in /tmp.
  for (const d of daemons) await rm(d.dir, { recursive: true, force: true });
});

async function get(d: DaemonProcess, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${d.url}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

describe("build engines", () => {
  test("[build] engine takes embedded, buildah or docker", () => {
    assert.equal(parseConfig('[build]\nengine = "buildah"\n', { root: "/srv" }).config.build.engine, "buildah");
    assert.equal(parseConfig("", { root: "/srv" }).config.build.engine, "embedded");
    assert.throws(() => parseConfig('[build]\nengine = "kaniko"\n', { root: "/srv" }), (err: ConfigError) => {
      assert.equal(err.message, 'config.toml: build.engine: expected "embedded", "buildah" or "docker", got "kaniko"');
      return true;
    });
  });

  test("embedded and buildah images of one folder run under fnrun and answer the same", async () => {
    const t0 = performance.now();
    const embedded = await startDaemonProcess(config("embedded"));
    daemons.push(embedded);
    const t1 = performance.now();
    const buildah = await startDaemonProcess(config("buildah"));
    daemons.push(buildah);
    const t2 = performance.now();
    const a = await get(embedded, "/good?name=engines");
    const b = await get(buildah, "/good?name=engines");
    assert.deepEqual(a, { status: 200, body: "hello engines from index.js" }, embedded.log());
    assert.deepEqual(b, a, buildah.log());
    const images = JSON.parse((await buildah.cli(["images", "--json"])).stdout) as Array<{ ref: string; functions: string[] }>;
    const fn = images.find((i) => i.functions.includes("good"));
    assert.match(fn?.ref ?? "", /^fn\/good:[0-9a-f]{12}-buildah-[0-9a-f]{8}$/);
    // Deploying again finds the buildah image in the store: buildah is not run a second time.
    const t3 = performance.now();
    const again = await buildah.cli(["deploy", GOOD, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    console.log(`# daemon start + deploy: embedded ${(t1 - t0).toFixed(0)} ms, buildah ${(t2 - t1).toFixed(0)} ms (first build pulls the base into buildah's storage); buildah redeploy of the unchanged folder ${(performance.now() - t3).toFixed(0)} ms`);
  });

  test("the docker engine builds the same function (when a docker engine answers)", async (t) => {
    const { execFile } = await import("node:child_process");
    const info = await new Promise<string | null>((r) => execFile("docker", ["info", "--format", "{{.ServerVersion}}"], (err, out) => r(err ? null : out.trim())));
    if (!info) {
      t.skip("no docker engine reachable (docker info failed): the docker engine is not exercised here");
      return;
    }
    const docker = await startDaemonProcess(config("docker"));
    daemons.push(docker);
    // The engine imports the OCI layout `docker save` writes since Docker 25; an older engine
    // (Debian 12's docker.io is 20.10) is refused at deploy with an error that says so.
    if (Number(info.split(".")[0]) < 25) {
      const out = await docker.cli(["deploy", GOOD]);
      assert.equal(out.code, 1);
      assert.match(out.stderr, /docker save wrote no OCI layout \(Docker before 25 does not\)/);
      assert.match(out.stderr, /use Docker 25 or later, or set \[build\] engine/);
      return;
    }
    assert.deepEqual(await get(docker, "/good?name=engines"), { status: 200, body: "hello engines from index.js" });
  });
});
