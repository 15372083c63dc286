/**
 * The store as a content-addressed cache (rebuild fast path, garbage collection that spares
 * what is in use, builds racing a collection) and its export as archives that other tools
 * load (skopeo reads docker-archive and oci-archive with the code `docker load`-compatible
 * tools share; `docker load` itself runs when a docker engine answers).
 */
import assert from "node:assert/strict";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageStore, buildFunction, collectGarbage, ensureBaseImage, writeImageArchive, type ImageInfo } from "../../builder/index.ts";
import { FIXTURES, blobNames, run, storeSnapshot, tempDir } from "./helpers.ts";

const BOOTSTRAP = "console.log('bootstrap')";
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: ImageStore;
let base: ImageInfo;

before(async () => {
  tmp = await tempDir();
  store = new ImageStore(path.join(tmp.dir, "s"));
  await store.init();
  base = await ensureBaseImage(store, { bootstrap: BOOTSTRAP });
});
after(() => tmp?.cleanup());

/** A copy of the `good` fixture whose greeting says `word`, so each copy is another revision. */
async function variant(word: string): Promise<string> {
  const dir = path.join(tmp.dir, `fn-${word}`);
  await cp(path.join(FIXTURES, "good"), dir, { recursive: true });
  const src = await readFile(path.join(dir, "index.ts"), "utf8");
  await writeFile(path.join(dir, "index.ts"), src.replace('"world"', JSON.stringify(word)));
  return dir;
}

async function save(ref: string, format: "docker" | "oci"): Promise<string> {
  const file = path.join(tmp.dir, `${format}-${Math.random().toString(36).slice(2)}.tar`);
  await writeImageArchive(store, ref, createWriteStream(file), { format });
  return file;
}

describe("rebuild fast path", () => {
  it("adds no blob and no rootfs when an unchanged folder is built again", async () => {
    const dir = await variant("fast");
    const first = await buildFunction(store, { name: "fast", dir, stateDir: store.stateDir, base });
    await store.rootfs(first.image.ref);
    const before = await storeSnapshot(store.stateDir);
    const t0 = performance.now();
    const again = await buildFunction(store, { name: "fast", dir, stateDir: store.stateDir, base });
    const ms = performance.now() - t0;
    assert.equal(again.image.digest, first.image.digest);
    assert.equal(await storeSnapshot(store.stateDir), before);
    console.log(`# rebuild of an unchanged folder (bundle + Dockerfile + store, nothing new written): ${ms.toFixed(1)} ms`);
  });
});

describe("garbage collection", () => {
  it("removes untagged blobs and rootfs, keeps what tags and in-use images need", async () => {
    const a = await buildFunction(store, { name: "gca", dir: await variant("gca"), stateDir: store.stateDir, base });
    const b = await buildFunction(store, { name: "gcb", dir: await variant("gcb"), stateDir: store.stateDir, base });
    const rootA = await store.rootfs(a.image.digest);
    const rootB = await store.rootfs(b.image.digest);
    // Both lose their tags; only b is "deployed" (in use).
    await store.untag(a.image.ref);
    await store.untag(b.image.ref);
    const result = await collectGarbage(store, { inUse: [b.image.digest] });
    assert.ok(result.blobs >= 3, `a's manifest, config and layer go (${result.blobs})`);
    assert.ok(result.rootfs >= 1);
    const blobs = await blobNames(store.layoutDir);
    assert.ok(!blobs.includes(a.image.digest.slice(7)));
    assert.ok(!blobs.includes(a.image.layers.at(-1)!.digest.slice(7)));
    for (const d of [b.image.digest, ...b.image.layers.map((l) => l.digest)]) assert.ok(blobs.includes(d.slice(7)), `in-use blob ${d} kept`);
    const rootfs = await readdir(path.join(store.stateDir, "rootfs"));
    assert.ok(!rootfs.includes(path.basename(rootA)), "a's rootfs removed");
    assert.ok(rootfs.includes(path.basename(rootB)), "b's rootfs kept (in use)");
    assert.ok(rootfs.includes(path.basename(await store.rootfs(base.ref))), "the base rootfs kept (tagged, and b's parent)");
    // b still unpacks and resolves
    assert.equal((await store.resolve(b.image.digest)).digest, b.image.digest);
  });

  it("untags old revisions on request, never one in use", async () => {
    const old = await buildFunction(store, { name: "rev", dir: await variant("rev1"), stateDir: store.stateDir, base });
    const cur = await buildFunction(store, { name: "rev", dir: await variant("rev2"), stateDir: store.stateDir, base });
    const result = await collectGarbage(store, { inUse: [cur.image.digest], untag: (ref) => ref.startsWith("fn/rev:") });
    assert.deepEqual(result.untagged, [old.image.ref]);
    assert.equal((await store.resolve(cur.image.ref)).digest, cur.image.digest);
    await assert.rejects(store.resolve(old.image.ref), { code: "FNRUN_IMAGE_NOT_FOUND" });
  });

  it("leaves every image whole when builds run while collections do", async () => {
    const dirs = await Promise.all(["c1", "c2", "c3", "c4"].map(variant));
    const work = dirs.map((dir, i) =>
      buildFunction(store, { name: `c${i}`, dir, stateDir: store.stateDir, base }).then((r) => store.rootfs(r.image.ref).then(() => r)),
    );
    // Collections back to back for as long as the builds run: without the store's lock one
    // sweeps a layer written but not yet tagged.
    let building = true;
    let collections = 0;
    const gcLoop = (async () => {
      while (building) {
        await collectGarbage(store, { inUse: [] });
        collections++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const built = await Promise.all(work).finally(() => (building = false));
    await gcLoop;
    assert.ok(collections > 1, `collections ran during the builds (${collections})`);
    for (const r of built) {
      const img = await store.resolve(r.image.ref);
      for (const l of img.layers) assert.ok(await store.hasBlob(l.digest), `${r.image.ref}: layer ${l.digest} present`);
      const root = await store.rootfs(r.image.ref);
      assert.ok((await readFile(path.join(root, "app/index.mjs"), "utf8")).length > 0);
    }
    assert.deepEqual(await readdir(path.join(store.stateDir, "tmp")), []);
  });
});

describe("image save", () => {
  it("writes a docker archive (manifest.json + config + layers) that skopeo reads as docker-archive", async () => {
    const fn = await buildFunction(store, { name: "saved", dir: await variant("saved"), stateDir: store.stateDir, base });
    const file = await save(fn.image.ref, "docker");
    const { stdout: list } = await run("tar", ["-tf", file]);
    assert.ok(list.split("\n").includes("manifest.json"));
    const { stdout } = await run("skopeo", ["inspect", "--raw", "--config", `docker-archive:${file}`]);
    const config = JSON.parse(stdout);
    assert.deepEqual(config.rootfs.diff_ids, fn.image.layers.map((l) => l.diffId));
    assert.ok(config.config.Env.includes("FNRUN_ENTRY=/app/index.mjs"));
    const { stdout: info } = await run("skopeo", ["inspect", `docker-archive:${file}`]);
    assert.deepEqual(JSON.parse(info).RepoTags ?? [], []); // skopeo lists registry tags only; the archive's tag is below
    const manifestJson = JSON.parse((await run("tar", ["-xOf", file, "manifest.json"])).stdout);
    assert.deepEqual(manifestJson[0].RepoTags, [fn.image.ref]);
  });

  it("writes an OCI archive that skopeo copies back with the same manifest digest", async () => {
    const fn = await buildFunction(store, { name: "ociarch", dir: await variant("ociarch"), stateDir: store.stateDir, base });
    const file = await save(fn.image.ref, "oci");
    const out = path.join(tmp.dir, "copied");
    await run("skopeo", ["copy", "--quiet", `oci-archive:${file}`, `oci:${out}:x`]);
    const index = JSON.parse(await readFile(path.join(out, "index.json"), "utf8"));
    assert.equal(index.manifests[0].digest, fn.image.digest);
  });

  it("is loaded and run by docker (when a docker engine answers)", async (t) => {
    const info = await run("docker", ["info", "--format", "{{.ServerVersion}}"]).catch((err: Error) => err);
    if (info instanceof Error) {
      t.skip(`no docker engine reachable (${info.message.split("\n").find((l) => /daemon|not found|ENOENT/i.test(l)) ?? "docker info failed"})`);
      return;
    }
    const fn = await buildFunction(store, { name: "dockerrun", dir: await variant("docker"), stateDir: store.stateDir, base });
    const file = await save(fn.image.ref, "docker");
    await run("docker", ["load", "-i", file]);
    try {
      const { stdout } = await run("docker", ["run", "--rm", "--entrypoint", "/usr/local/bin/node", fn.image.ref, "-e", "import('/app/index.mjs').then(async (m) => console.log(await (await m.default.fetch(new Request('http://x/?name=docker'))).text()))"]);
      assert.match(stdout, /docker/);
    } finally {
      await run("docker", ["rmi", "-f", fn.image.ref]).catch(() => {});
    }
  });
});
