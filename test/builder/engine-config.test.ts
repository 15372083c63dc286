/**
 * The generated Dockerfile gives the same image config whoever applies it: the embedded engine,
 * `buildah bud`, and `docker build` (where an engine answers). The fields compared are the ones
 * a container runtime starts a function image with (User, ExposedPorts, StopSignal, Env,
 * WorkingDir, Cmd, Entrypoint), so `docker build` of fnrun's context stays equivalent.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageStore, buildFunction, ensureBaseImage, writeImageArchive, type ImageInfo } from "../../builder/index.ts";
import type { RuntimeConfig } from "../../builder/oci-image.ts";
import { FIXTURES, tempDir } from "./helpers.ts";

const BOOTSTRAP = "console.log('bootstrap of the engine-config test')";

/** The start-up fields of a config, absent and null alike. */
function startFields(c: RuntimeConfig) {
  return {
    User: c.User ?? null,
    ExposedPorts: c.ExposedPorts ?? null,
    StopSignal: c.StopSignal ?? null,
    Env: c.Env ?? null,
    WorkingDir: c.WorkingDir ?? null,
    Cmd: c.Cmd ?? null,
    Entrypoint: c.Entrypoint && c.Entrypoint.length ? c.Entrypoint : null,
  };
}

function docker(args: string[], input?: NodeJS.ReadableStream): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    if (!input) return void execFile("docker", args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }));
    const child = spawn("docker", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    input.pipe(child.stdin);
  });
}

describe("one Dockerfile, one config, whichever engine applies it", { timeout: 600_000 }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let store: ImageStore;
  let base: ImageInfo;
  let embedded: Awaited<ReturnType<typeof buildFunction>>;
  const dockerTags: string[] = [];

  before(async () => {
    tmp = await tempDir();
    store = new ImageStore(path.join(tmp.dir, "s"));
    await store.init();
    base = await ensureBaseImage(store, { bootstrap: BOOTSTRAP });
    embedded = await buildFunction(store, { name: "eq", dir: path.join(FIXTURES, "good"), stateDir: store.stateDir, base });
  });
  after(async () => {
    for (const t of dockerTags.reverse()) await docker(["rmi", "-f", t]); // children before their base
    await tmp?.cleanup();
  });

  it("the embedded engine's config is what the Dockerfile says", () => {
    assert.deepEqual(startFields(embedded.image.config.config), {
      User: "1000:1000",
      ExposedPorts: { "8080/tcp": {} },
      StopSignal: "SIGTERM",
      Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "FNRUN_ENTRY=/app/index.mjs"],
      WorkingDir: "/app",
      Cmd: ["/usr/local/bin/node", "/fnrun/bootstrap.mjs"],
      Entrypoint: null,
    });
  });

  it("buildah bud of the same context gives the same start-up config", async () => {
    const built = await buildFunction(store, { name: "eq", dir: path.join(FIXTURES, "good"), stateDir: store.stateDir, base, engine: "buildah" });
    assert.notEqual(built.image.digest, embedded.image.digest, "really built by buildah");
    assert.deepEqual(startFields(built.image.config.config), startFields(embedded.image.config.config));
  });

  it("docker build of the same context gives the same start-up config (when a docker engine answers)", async (t) => {
    const info = await docker(["info", "--format", "{{.ServerVersion}}"]);
    if (info.code !== 0) return t.skip(`no docker engine reachable: ${info.stderr.trim().split("\n").pop()}`);
    // docker build needs the base under the tag FROM names (the docker engine of engine-tool.ts does the same).
    const archive = new (await import("node:stream")).PassThrough();
    void writeImageArchive(store, base.ref, archive, { format: "docker" }).catch((err) => archive.destroy(err));
    const loaded = await docker(["load", "-q"], archive);
    assert.equal(loaded.code, 0, loaded.stderr);
    dockerTags.push(base.ref);
    const tag = `fnrun-test/engine-config:${process.pid}`;
    const build = await docker(["build", "-q", "-t", tag, embedded.contextDir]);
    assert.equal(build.code, 0, build.stderr);
    dockerTags.push(tag);
    const inspected = await docker(["image", "inspect", "--format", "{{json .Config}}", tag]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.deepEqual(startFields(JSON.parse(inspected.stdout)), startFields(embedded.image.config.config));
  });
});
