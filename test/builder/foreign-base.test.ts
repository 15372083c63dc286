/**
 * A function image FROM a base that is not fnrun's: the generated Dockerfile copies the
 * bootstrap and the /run/fnrun mount point in and finds node on the PATH; the embedded engine
 * applies it into an image whose rootfs has everything a read-only container start needs.
 */
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageStore, buildFunction, generateDockerfile, parseDockerfile } from "../../builder/index.ts";
import { FIXTURES, tempDir } from "./helpers.ts";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: ImageStore;
before(async () => {
  tmp = await tempDir();
  store = new ImageStore(path.join(tmp.dir, "s"));
  await store.init();
});
after(() => tmp?.cleanup());

describe("foreign base", () => {
  it("generates COPY of the bootstrap and the mount point, and CMD with node from the PATH", () => {
    const ins = parseDockerfile(generateDockerfile({ base: "127.0.0.1:5000/library/node:20", foreignBase: true }));
    assert.deepEqual(ins.map((i) => (i.op === "COPY" ? i.text : i.op === "CMD" ? `CMD ${JSON.stringify(i.args)}` : i.op)), [
      "FROM", "COPY fnrun /fnrun", "COPY run /run", "COPY index.mjs /app/index.mjs", "ENV", "WORKDIR", "USER", "EXPOSE", "STOPSIGNAL", 'CMD ["node","/fnrun/bootstrap.mjs"]',
    ]);
  });

  it("builds an image with the bootstrap, /run/fnrun and the bundle on top of the foreign base", async () => {
    const foreign = await store.putImage("library/node:20", [{ entries: [{ type: "dir", path: "/tmp", mode: 0o1777 }, { type: "file", path: "/usr/local/bin/node", mode: 0o755, content: "not really node" }] }], { Env: ["PATH=/usr/local/bin"], Cmd: ["node"] });
    const built = await buildFunction(store, { name: "fb", dir: path.join(FIXTURES, "good"), stateDir: store.stateDir, base: foreign, bootstrap: "// the bootstrap\n" });
    assert.equal(built.image.layers.length, 4);
    const root = await store.rootfs(built.image.ref);
    assert.equal(await readFile(path.join(root, "fnrun/bootstrap.mjs"), "utf8"), "// the bootstrap\n");
    assert.ok((await stat(path.join(root, "run/fnrun"))).isDirectory());
    assert.ok((await stat(path.join(root, "app/index.mjs"))).isFile());
    assert.equal(await readFile(path.join(root, "usr/local/bin/node"), "utf8"), "not really node");
    const config = await store.imageConfig(built.image.ref);
    assert.deepEqual(config.Cmd, ["node", "/fnrun/bootstrap.mjs"]);
    // The foreign base has neither: the function's Dockerfile sets what the bootstrap needs outside fnrun.
    const raw = built.image.config.config;
    assert.deepEqual([raw.User, raw.ExposedPorts, raw.StopSignal], ["1000:1000", { "8080/tcp": {} }, "SIGTERM"]);
    assert.ok(config.Env.includes("PATH=/usr/local/bin") && config.Env.includes("FNRUN_ENTRY=/app/index.mjs"));
  });
});
