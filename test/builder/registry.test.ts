/**
 * Push and pull against a real registry (Debian's docker-registry on 127.0.0.1): chunked and
 * monolithic uploads, HEAD skipping what the registry has, a pull on a clean store giving the
 * same image, digest verification of what comes back, basic auth with htpasswd.
 */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageStore, RegistryError, buildFunction, ensureBaseImage, pullImage, pushImage, type ImageInfo } from "../../builder/index.ts";
import { FIXTURES, blobNames, tempDir } from "./helpers.ts";
import { startRegistry, type RegistryServer } from "./registry-server.ts";
import { startTokenServer, type TokenServer } from "./token-server.ts";

const BOOTSTRAP = "console.log('bootstrap')";

let tmp: { dir: string; cleanup: () => Promise<void> };
let registry: RegistryServer;
let store: ImageStore;
let base: ImageInfo;
let fn: ImageInfo;

before(async () => {
  tmp = await tempDir();
  registry = await startRegistry();
  store = new ImageStore(path.join(tmp.dir, "a"));
  await store.init();
  base = await ensureBaseImage(store, { bootstrap: BOOTSTRAP });
  fn = (await buildFunction(store, { name: "good", dir: path.join(FIXTURES, "good"), stateDir: store.stateDir, base })).image;
});
after(async () => {
  await registry?.stop();
  await tmp?.cleanup();
});

async function registryError(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${(err as Error).stack}`);
    return err;
  }
  assert.fail("no error");
}

async function freshStore(name: string): Promise<ImageStore> {
  const s = new ImageStore(path.join(tmp.dir, name));
  await s.init();
  return s;
}

describe("push and pull (docker-registry on loopback)", () => {
  it("pushes the base image in chunks, then skips every blob the second time", async () => {
    const t0 = performance.now();
    const first = await pushImage(store, base.ref, `${registry.host}/fnrun/base:test`, { insecure: true, chunkBytes: 8 << 20 });
    const pushMs = performance.now() - t0;
    assert.equal(first.digest, base.digest);
    assert.equal(first.uploaded, 2); // one layer + config
    assert.equal(first.skipped, 0);
    assert.ok(base.layers[0].size > 8 << 20, "the base layer is larger than a chunk, so it went in several PATCHes");
    const t1 = performance.now();
    const again = await pushImage(store, base.ref, `${registry.host}/fnrun/base:test`, { insecure: true });
    assert.deepEqual([again.uploaded, again.skipped], [0, 2]);
    console.log(`# push base (${(base.layers[0].size / 1048576).toFixed(1)} MiB, chunked): ${pushMs.toFixed(0)} ms; again (HEAD skips): ${(performance.now() - t1).toFixed(0)} ms`);
  });

  it("pushes a function image monolithically, sending only its own layer", async () => {
    const r = await pushImage(store, fn.ref, `${registry.host}/team/good:v1`, { insecure: true });
    // The base layer is in the registry already (another repository of the same registry shares
    // blob storage, but HEAD is per repository): the function's repo gets base layer + own layer + config.
    assert.equal(r.uploaded + r.skipped, 3);
    assert.equal(r.digest, fn.digest);
  });

  it("pulls onto a clean store: same digests, same blobs, and a rootfs that unpacks", async () => {
    const clean = await freshStore("b");
    const t0 = performance.now();
    const pulled = await pullImage(clean, `${registry.host}/team/good:v1`, { insecure: true });
    const pullMs = performance.now() - t0;
    assert.equal(pulled.image.digest, fn.digest);
    assert.equal(pulled.image.ref, `${registry.host}/team/good:v1`);
    assert.equal(pulled.downloaded, 3);
    const wanted = [fn.digest, ...fn.layers.map((l) => l.digest)].map((d) => d.slice(7));
    const have = await blobNames(clean.layoutDir);
    for (const hex of wanted) assert.ok(have.includes(hex), `blob ${hex} pulled`);
    const root = await clean.rootfs(pulled.image.ref);
    assert.match(await readFile(path.join(root, "app/index.mjs"), "utf8"), /hello/i);
    assert.deepEqual((await clean.imageConfig(pulled.image.ref)).Env.find((e) => e.startsWith("FNRUN_ENTRY=")), "FNRUN_ENTRY=/app/index.mjs");
    const t1 = performance.now();
    const again = await pullImage(clean, `${registry.host}/team/good:v1`, { insecure: true });
    assert.deepEqual([again.downloaded, again.cached], [0, 3]);
    console.log(`# pull function image incl. base layer on a clean store: ${pullMs.toFixed(0)} ms; again (all cached): ${(performance.now() - t1).toFixed(0)} ms`);
    // by digest too
    const byDigest = await pullImage(clean, `${registry.host}/team/good@${fn.digest}`, { insecure: true });
    assert.equal(byDigest.image.digest, fn.digest);
  });

  it("rejects a blob whose content does not match its digest, naming it, keeping nothing", async () => {
    // Corrupt the registry's own copy of the function layer (distribution serves what is on disk).
    const layer = fn.layers.at(-1)!;
    const hex = layer.digest.slice(7);
    const data = path.join(registry.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    const bytes = await readFile(data);
    bytes[bytes.length - 5] ^= 0xff; // same size, other content
    await writeFile(data, bytes);
    const clean = await freshStore("c");
    const before = await blobNames(clean.layoutDir);
    const err = await registryError(pullImage(clean, `${registry.host}/team/good:v1`, { insecure: true }));
    assert.equal(err.code, "FNRUN_REGISTRY_DIGEST_MISMATCH");
    assert.equal(err.kind, "system");
    assert.match(err.message, new RegExp(`^pull blob \`${layer.digest}\`: its content has digest sha256:[0-9a-f]{64}; refused, nothing kept$`));
    const after = await blobNames(clean.layoutDir);
    assert.ok(!after.includes(hex), "the corrupt blob is not in the store");
    assert.deepEqual(await readdir(path.join(clean.stateDir, "tmp")), [], "no temp file left");
    assert.equal(after.length - before.length, 2, "only the verified base layer and config were kept");
    await assert.rejects(clean.resolve(`${registry.host}/team/good:v1`), { code: "FNRUN_IMAGE_NOT_FOUND" });
  });

  it("reports a missing image, a bad reference, and plain HTTP without --insecure", async () => {
    const missing = await registryError(pullImage(await freshStore("d"), `${registry.host}/team/nope:v1`, { insecure: true }));
    assert.equal(missing.code, "FNRUN_REGISTRY_NOT_FOUND");
    assert.equal(missing.kind, "user");
    const bad = await registryError(pullImage(store, "team/good:v1"));
    assert.equal(bad.code, "FNRUN_REGISTRY_REF_INVALID");
    const notLoopback = await registryError(pullImage(store, "registry.example.com/team/good:v1", { insecure: true }));
    assert.equal(notLoopback.code, "FNRUN_REGISTRY_INSECURE");
    const tls = await registryError(pullImage(store, `${registry.host}/team/good:v1`));
    assert.equal(tls.code, "FNRUN_REGISTRY_FAILED");
    assert.match(tls.message, /needs --insecure/);
  });
});

describe("basic auth (htpasswd, bcrypt)", () => {
  let locked: RegistryServer;
  before(async () => {
    locked = await startRegistry({ htpasswd: { user: "alice", password: "s3cret-pw" } });
  });
  after(() => locked?.stop());

  it("refuses without a login, refuses a wrong password, works with the right one", async () => {
    const small = await store.putImage("t/small:1", [{ entries: [{ type: "file", path: "/hi.txt", mode: 0o644, content: "hi" }] }], { Cmd: ["/hi"] });
    const target = `${locked.host}/team/small:1`;
    const none = await registryError(pushImage(store, small.ref, target, { insecure: true }));
    assert.equal(none.code, "FNRUN_REGISTRY_AUTH");
    assert.match(none.message, /asks for a login \(basic\); pass --username and --password-stdin/);
    const wrong = await registryError(pushImage(store, small.ref, target, { insecure: true, credentials: { username: "alice", password: "nope" } }));
    assert.equal(wrong.code, "FNRUN_REGISTRY_AUTH");
    const ok = await pushImage(store, small.ref, target, { insecure: true, credentials: { username: "alice", password: "s3cret-pw" } });
    assert.equal(ok.uploaded, 2);
    const pulled = await pullImage(await freshStore("e"), target, { insecure: true, credentials: { username: "alice", password: "s3cret-pw" } });
    assert.equal(pulled.image.digest, small.digest);
  });
});

describe("bearer tokens (the distribution token flow)", () => {
  let tokens: TokenServer;
  let guarded: RegistryServer;
  before(async () => {
    tokens = await startTokenServer(tmp.dir, "bob", "t0ken-pw");
    guarded = await startRegistry({ extraConfig: tokens.registryConfig });
  });
  after(async () => {
    await guarded?.stop();
    await tokens?.stop();
  });

  it("follows 401 + WWW-Authenticate Bearer to the token endpoint with the repository scope", async () => {
    const small = await store.putImage("t/bearer:1", [{ entries: [{ type: "file", path: "/b.txt", mode: 0o644, content: "bearer" }] }], { Cmd: ["/b"] });
    const target = `${guarded.host}/team/bearer:1`;
    const refused = await registryError(pushImage(store, small.ref, target, { insecure: true, credentials: { username: "bob", password: "wrong" } }));
    assert.equal(refused.code, "FNRUN_REGISTRY_AUTH");
    assert.match(refused.message, /^get a token from `http:\/\/127\.0\.0\.1:\d+\/token` for `repository:team\/bearer:pull,push`: 401; check --username/);
    const r = await pushImage(store, small.ref, target, { insecure: true, credentials: { username: "bob", password: "t0ken-pw" } });
    assert.equal(r.uploaded, 2);
    const pulled = await pullImage(await freshStore("f"), target, { insecure: true, credentials: { username: "bob", password: "t0ken-pw" } });
    assert.equal(pulled.image.digest, small.digest);
    const granted = tokens.requests.filter((q) => q.user === "bob");
    assert.ok(granted.some((q) => q.scopes.includes("repository:team/bearer:pull,push")), JSON.stringify(tokens.requests));
    assert.ok(granted.some((q) => q.scopes.includes("repository:team/bearer:pull")));
  });
});
