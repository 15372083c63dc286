import assert from "node:assert/strict";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  BuildError,
  ImageStore,
  applyDockerfile,
  baseImageTag,
  buildFunction,
  bundleFunction,
  ensureBaseImage,
  generateDockerfile,
  type ImageInfo,
} from "../../builder/index.ts";
import { FIXTURES, blobNames, readJson, run, sha256Hex, storeSnapshot, tempDir } from "./helpers.ts";

const BOOTSTRAP = "console.log('bootstrap')";
const GOOD = path.join(FIXTURES, "good");

let tmp: { dir: string; cleanup: () => Promise<void> };
let state: string;
let store: ImageStore;
let base: ImageInfo;
let baseBuildMs: number;

// The base layer holds the ~100 MB node binary: build it once for the whole file.
before(async () => {
  tmp = await tempDir();
  state = path.join(tmp.dir, "s");
  store = new ImageStore(state);
  await store.init();
  const t0 = performance.now();
  base = await ensureBaseImage(store, { bootstrap: BOOTSTRAP });
  baseBuildMs = performance.now() - t0;
});
after(() => tmp.cleanup());

async function buildError(p: Promise<unknown>): Promise<BuildError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BuildError, `expected a BuildError, got ${err}`);
    return err;
  }
  assert.fail("build succeeded");
}

describe("base image", () => {
  it("is tagged by node version and a hash of the bootstrap and the config, and carries the base config", async () => {
    const config = {
      User: "1000:1000",
      ExposedPorts: { "8080/tcp": {} },
      WorkingDir: "/app",
      Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production"],
      Cmd: ["/usr/local/bin/node", "/fnrun/bootstrap.mjs"],
      StopSignal: "SIGTERM",
    };
    const tag = `fnrun/base:node-${process.versions.node}-${sha256Hex(`${BOOTSTRAP}\0${JSON.stringify(config)}`).slice(0, 12)}`;
    assert.equal(base.ref, tag);
    assert.equal(baseImageTag({ bootstrap: BOOTSTRAP }), tag);
    assert.equal(base.layers.length, 1);
    assert.deepEqual(base.config.config, config);
    console.log(`# base image build: ${Math.round(baseBuildMs)} ms, layer ${(base.layers[0].size / 1e6).toFixed(1)} MB gzipped`);
  });

  it("is returned from the store, not rebuilt, the second time", async () => {
    const before = await storeSnapshot(state);
    const t0 = performance.now();
    const again = await ensureBaseImage(store, { bootstrap: BOOTSTRAP });
    const ms = performance.now() - t0;
    assert.equal(again.digest, base.digest);
    assert.equal(await storeSnapshot(state), before);
    assert.ok(ms < baseBuildMs / 10, `cached lookup took ${ms} ms, the build ${baseBuildMs} ms`);
  });
});

describe("buildFunction", () => {
  let result: Awaited<ReturnType<typeof buildFunction>>;
  let buildMs: number;
  before(async () => {
    const t0 = performance.now();
    result = await buildFunction(store, { name: "hello", dir: GOOD, stateDir: state, base });
    buildMs = performance.now() - t0;
  });

  it("writes the context and tags the image fn/<name>:<12 hex of the bundle digest>", async () => {
    const bundle = await bundleFunction(GOOD);
    assert.equal(result.bundleDigest, bundle.digest);
    assert.equal(result.image.ref, `fn/hello:${bundle.digest.slice(7, 19)}`);
    assert.equal(result.contextDir, path.join(state, "build", "hello"));
    assert.equal(result.dockerfile, generateDockerfile({ base: base.ref }));
    assert.equal(await readFile(path.join(result.contextDir, "Dockerfile"), "utf8"), result.dockerfile);
    assert.deepEqual(await readFile(path.join(result.contextDir, "index.mjs")), Buffer.from(bundle.code));
    assert.deepEqual((await readdir(result.contextDir)).sort(), ["Dockerfile", "index.mjs"]);
    console.log(`# function build (bundle + Dockerfile + image): ${Math.round(buildMs)} ms`);
  });

  it("is the base plus one layer, with FNRUN_ENTRY and the Dockerfile's history", async () => {
    const img = result.image;
    assert.deepEqual(img.layers.slice(0, 1), base.layers);
    assert.equal(img.layers.length, 2);
    assert.deepEqual(img.config.config, {
      User: "1000:1000",
      ExposedPorts: { "8080/tcp": {} },
      WorkingDir: "/app",
      Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "FNRUN_ENTRY=/app/index.mjs"],
      Cmd: ["/usr/local/bin/node", "/fnrun/bootstrap.mjs"],
      StopSignal: "SIGTERM",
    });
    assert.deepEqual(img.config.history?.map((h) => [h.created_by, !!h.empty_layer]).slice(1), [
      ["COPY index.mjs /app/index.mjs", false],
      ["ENV FNRUN_ENTRY=/app/index.mjs", true],
      ["WORKDIR /app", true],
      ["USER 1000:1000", true],
      ["EXPOSE 8080/tcp", true],
      ["STOPSIGNAL SIGTERM", true],
      ['CMD ["/usr/local/bin/node","/fnrun/bootstrap.mjs"]', true],
    ]);
    // every blob of the store is named by its content
    for (const hex of await blobNames(store.layoutDir)) assert.equal(sha256Hex(await readFile(path.join(store.layoutDir, "blobs/sha256", hex))), hex);
  });

  it("is accepted by skopeo (tag with a colon after the layout path)", async () => {
    const { stdout } = await run("skopeo", ["inspect", `oci:${store.layoutDir}:${result.image.ref}`]);
    const info = JSON.parse(stdout);
    assert.equal(info.Digest, result.image.digest);
    assert.equal(info.Architecture, "amd64");
    assert.equal(info.Os, "linux");
    assert.deepEqual(info.Layers, result.image.layers.map((l) => l.digest));
    assert.ok(info.Env.includes("FNRUN_ENTRY=/app/index.mjs"));
  });

  it("is unpacked by umoci into a rootfs with the bundle and node", async () => {
    const out = path.join(tmp.dir, "umoci");
    await run("umoci", ["unpack", "--image", `${store.layoutDir}:${result.image.ref}`, out]);
    const rootfs = path.join(out, "rootfs");
    assert.deepEqual(await readFile(path.join(rootfs, "app/index.mjs")), await readFile(path.join(result.contextDir, "index.mjs")));
    assert.equal((await stat(path.join(rootfs, "usr/local/bin/node"))).size, (await stat(process.execPath)).size);
    assert.equal(await readFile(path.join(rootfs, "fnrun/bootstrap.mjs"), "utf8"), BOOTSTRAP);
    const config = await readJson(path.join(out, "config.json"));
    assert.deepEqual(config.process.args, ["/usr/local/bin/node", "/fnrun/bootstrap.mjs"]);
    assert.equal(config.process.cwd, "/app");
  });

  it("has a cached rootfs sharing the base's node binary by hard link, where the bundle runs", async () => {
    const t0 = performance.now();
    const baseRootfs = await store.rootfs(base.ref);
    const t1 = performance.now();
    const rootfs = await store.rootfs(result.image.ref);
    const t2 = performance.now();
    assert.equal(path.dirname(rootfs), path.join(state, "rootfs"));
    assert.notEqual(rootfs, baseRootfs);
    const [a, b] = await Promise.all([stat(path.join(rootfs, "usr/local/bin/node")), stat(path.join(baseRootfs, "usr/local/bin/node"))]);
    assert.equal(a.ino, b.ino, "node is hard-linked, not copied");
    assert.equal(a.mode & 0o777, 0o755);
    assert.equal((await stat(path.join(rootfs, "tmp"))).mode & 0o7777, 0o1777);
    assert.equal((await stat(path.join(rootfs, "app/index.mjs"))).mode & 0o777, 0o644);
    await assert.rejects(stat(path.join(baseRootfs, "app/index.mjs")), { code: "ENOENT" });
    // The image's own node runs the bundle inside the rootfs (chroot: no container needed here).
    const { stdout } = await run("/usr/sbin/chroot", [rootfs, "/usr/local/bin/node", "--input-type=module", "-e",
      "const m = await import('/app/index.mjs'); const r = await m.default.fetch(new Request('http://x/?name=img')); console.log(await r.text());"], { env: { PATH: "/usr/local/bin" } });
    assert.equal(stdout.trim(), "hello img from index.js");
    assert.equal(await store.rootfs(result.image.ref), rootfs);
    console.log(`# rootfs unpack: base ${Math.round(t1 - t0)} ms, function (hard-link clone + top layer) ${Math.round(t2 - t1)} ms`);
  });

  it("adds no blob when the unchanged folder is built again", async () => {
    const before = await storeSnapshot(state);
    const blobsBefore = await blobNames(store.layoutDir);
    const again = await buildFunction(store, { name: "hello", dir: GOOD, stateDir: state, base });
    assert.equal(again.image.digest, result.image.digest);
    assert.deepEqual(await blobNames(store.layoutDir), blobsBefore);
    assert.equal(await storeSnapshot(state), before);
  });

  it("leaves the store and the build dir untouched when the bundle fails", async () => {
    const bad = path.join(tmp.dir, "bad");
    await mkdir(bad);
    await writeFile(path.join(bad, "index.ts"), "export default {\n  fetch( {\n};\n");
    const before = await storeSnapshot(state);
    const err = await buildError(buildFunction(store, { name: "bad", dir: bad, stateDir: state, base }));
    assert.equal(err.code, "FNRUN_BUILD_SYNTAX");
    assert.equal(err.file, path.join(bad, "index.ts"));
    assert.equal(err.line, 3);
    const unresolved = path.join(tmp.dir, "unresolved");
    await mkdir(unresolved);
    await writeFile(path.join(unresolved, "index.ts"), "import x from 'left-pad';\nexport default x;\n");
    assert.equal((await buildError(buildFunction(store, { name: "bad", dir: unresolved, stateDir: state, base }))).code, "FNRUN_BUILD_UNRESOLVED");
    assert.equal((await buildError(buildFunction(store, { name: "bad", dir: path.join(tmp.dir, "nonexistent"), stateDir: state, base }))).code, "FNRUN_BUILD_NO_ENTRY");
    assert.equal(await storeSnapshot(state), before);
    await assert.rejects(stat(path.join(state, "build", "bad")), { code: "ENOENT" });
  });
});

describe("applyDockerfile (embedded engine)", () => {
  it("applies COPY of a directory, LABEL, ENTRYPOINT, relative WORKDIR", async () => {
    const ctx = path.join(tmp.dir, "ctx");
    await mkdir(path.join(ctx, "site/sub"), { recursive: true });
    await writeFile(path.join(ctx, "site/a.txt"), "A");
    await writeFile(path.join(ctx, "site/sub/b.txt"), "B");
    const dockerfile = [`FROM ${base.ref}`, "COPY site /srv/site", "WORKDIR site", 'LABEL team="fn runners"', 'ENTRYPOINT ["/usr/local/bin/node"]', "USER 65534"].join("\n");
    const img = await applyDockerfile(store, { dockerfile, contextDir: ctx, tag: "t/engine:1" });
    const cfg = img.config.config;
    assert.equal(cfg.WorkingDir, "/app/site");
    assert.deepEqual(cfg.Labels, { team: "fn runners" });
    assert.deepEqual(cfg.Entrypoint, ["/usr/local/bin/node"]);
    assert.equal(cfg.Cmd, null, "ENTRYPOINT resets the inherited CMD, as docker does");
    assert.equal(cfg.User, "65534");
    const rootfs = await store.rootfs("t/engine:1");
    assert.equal(await readFile(path.join(rootfs, "srv/site/a.txt"), "utf8"), "A");
    assert.equal(await readFile(path.join(rootfs, "srv/site/sub/b.txt"), "utf8"), "B");
  });

  it("applies EXPOSE (added to the base's ports) and STOPSIGNAL (replacing the base's) to the config", async () => {
    const img = await applyDockerfile(store, { dockerfile: `FROM ${base.ref}\nEXPOSE 9090/udp 9091\nSTOPSIGNAL SIGQUIT`, contextDir: tmp.dir, tag: "t/engine:ports" });
    assert.deepEqual(img.config.config.ExposedPorts, { "8080/tcp": {}, "9090/udp": {}, "9091/tcp": {} });
    assert.equal(img.config.config.StopSignal, "SIGQUIT");
    assert.deepEqual(img.config.history?.slice(-2).map((h) => [h.created_by, h.empty_layer]), [["EXPOSE 9090/udp 9091/tcp", true], ["STOPSIGNAL SIGQUIT", true]]);
    assert.equal(img.layers.length, base.layers.length, "no layer for config-only instructions");
  });

  it("refuses RUN and a COPY from outside the context without touching the store", async () => {
    const before = await storeSnapshot(state);
    const run1 = await buildError(applyDockerfile(store, { dockerfile: `FROM ${base.ref}\nRUN npm ci`, contextDir: tmp.dir, tag: "t/engine:2" }));
    assert.equal(run1.code, "FNRUN_UNSUPPORTED_INSTRUCTION");
    assert.equal(run1.message, 'Dockerfile line 2: RUN is not supported by the embedded engine; set [build] engine = "buildah" or "docker"');
    const escape = await buildError(applyDockerfile(store, { dockerfile: `FROM ${base.ref}\nCOPY ../../etc/passwd /x`, contextDir: path.join(tmp.dir, "ctx"), tag: "t/engine:3" }));
    assert.equal(escape.code, "FNRUN_DOCKERFILE_INVALID");
    assert.equal(await storeSnapshot(state), before);
  });

  it("reports an unknown FROM as FNRUN_IMAGE_NOT_FOUND", async () => {
    await assert.rejects(applyDockerfile(store, { dockerfile: "FROM nope/base:1\nCOPY a /a", contextDir: tmp.dir, tag: "t/engine:4" }), { code: "FNRUN_IMAGE_NOT_FOUND" });
  });
});
