import assert from "node:assert/strict";
import { lstat, readFile, readdir, readlink, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import tar from "tar-stream";
import { ImageError, ImageStore, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, CONFIG_MEDIA_TYPE, type LayerInfo } from "../../builder/index.ts";
import { blobNames, readJson, sha256Hex, storeSnapshot, tempDir } from "./helpers.ts";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: ImageStore;
before(async () => {
  tmp = await tempDir();
  store = new ImageStore(path.join(tmp.dir, "state"));
  await store.init();
});
after(() => tmp.cleanup());

const CONFIG = { User: "1000:1000", WorkingDir: "/app", Env: ["A=1"], Cmd: ["/bin/x"] };

async function imageError(p: Promise<unknown>): Promise<ImageError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ImageError, `expected an ImageError, got ${err}`);
    return err;
  }
  assert.fail("no error");
}

/** A gzipped tar made by hand (for layers the store itself would never write), stored as a layer. */
async function rawLayer(entries: { header: Partial<tar.Header> & { name: string }; body?: string }[]): Promise<LayerInfo> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on("end", () => r()));
  for (const e of entries) pack.entry({ mode: 0o644, ...e.header }, e.body ?? "");
  pack.finalize();
  await ended;
  const tarBytes = Buffer.concat(chunks);
  const gz = gzipSync(tarBytes);
  const { digest, size } = await store.putBlob(gz);
  return { mediaType: LAYER_MEDIA_TYPE, digest, size, diffId: `sha256:${sha256Hex(tarBytes)}` };
}

describe("ImageStore layout", () => {
  it("writes an OCI image layout: oci-layout, index.json with ref names, blobs named by their sha256", async () => {
    const image = await store.putImage("t/small:v1", [
      { entries: [{ type: "dir", path: "/app", mode: 0o755 }, { type: "file", path: "/app/a.txt", mode: 0o640, content: "alpha" }], createdBy: "first" },
      { entries: [{ type: "file", path: "/app/b.txt", mode: 0o755, content: "beta" }, { type: "symlink", path: "/app/c", target: "a.txt" }], createdBy: "second" },
    ], CONFIG);
    const layout = store.layoutDir;
    assert.deepEqual(await readJson(path.join(layout, "oci-layout")), { imageLayoutVersion: "1.0.0" });
    const index = await readJson(path.join(layout, "index.json"));
    assert.equal(index.schemaVersion, 2);
    const entry = index.manifests.find((m: any) => m.annotations["org.opencontainers.image.ref.name"] === "t/small:v1");
    assert.deepEqual(entry, { mediaType: MANIFEST_MEDIA_TYPE, digest: image.digest, size: entry.size, annotations: { "org.opencontainers.image.ref.name": "t/small:v1" } });

    // Every blob's name is its sha256, and every descriptor's size is the blob's size.
    for (const hex of await blobNames(layout)) assert.equal(sha256Hex(await readFile(path.join(layout, "blobs/sha256", hex))), hex);
    const blob = (d: string) => readFile(path.join(layout, "blobs/sha256", d.slice(7)));
    assert.equal((await blob(image.digest)).length, entry.size);
    const manifest = JSON.parse((await blob(image.digest)).toString());
    assert.equal(manifest.schemaVersion, 2);
    assert.equal(manifest.mediaType, MANIFEST_MEDIA_TYPE);
    assert.equal(manifest.config.mediaType, CONFIG_MEDIA_TYPE);
    assert.equal((await blob(manifest.config.digest)).length, manifest.config.size);
    assert.equal(manifest.layers.length, 2);
    const config = JSON.parse((await blob(manifest.config.digest)).toString());
    assert.equal(config.architecture, "amd64");
    assert.equal(config.os, "linux");
    assert.deepEqual(config.config, CONFIG);
    assert.deepEqual(config.history.map((h: any) => h.created_by), ["first", "second"]);
    assert.equal(config.rootfs.type, "layers");
    for (const [i, layer] of manifest.layers.entries()) {
      assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
      const gz = await blob(layer.digest);
      assert.equal(gz.length, layer.size);
      // diff_id = sha256 of the uncompressed tar
      assert.equal(config.rootfs.diff_ids[i], `sha256:${sha256Hex(gunzipSync(gz))}`);
    }
  });

  it("writes deterministic tars: sorted, mtime 0, uid/gid 0, no user names", async () => {
    const a = await store.putImage("t/det:a", [{ entries: [{ type: "file", path: "/z", mode: 0o644, content: "z" }, { type: "dir", path: "/d", mode: 0o700 }, { type: "file", path: "/d/f", mode: 0o600, content: "f" }] }], CONFIG);
    const b = await store.putImage("t/det:b", [{ entries: [{ type: "file", path: "/d/f", mode: 0o600, content: "f" }, { type: "dir", path: "/d", mode: 0o700 }, { type: "file", path: "/z", mode: 0o644, content: "z" }] }], CONFIG);
    assert.equal(a.digest, b.digest, "order of entries does not matter");
    const extract = tar.extract();
    const headers: tar.Header[] = [];
    extract.on("entry", (h, s, next) => {
      headers.push(h);
      s.on("end", next);
      s.resume();
    });
    extract.end(gunzipSync(await readFile(store.blobPath(a.layers[0].digest))));
    await new Promise<void>((r) => extract.on("finish", () => r()));
    assert.deepEqual(headers.map((h) => h.name), ["d/", "d/f", "z"]);
    for (const h of headers) {
      assert.equal(h.mtime.getTime(), 0);
      assert.equal(h.uid, 0);
      assert.equal(h.gid, 0);
      assert.equal(h.uname, "");
    }
    assert.deepEqual(headers.map((h) => h.mode), [0o700, 0o600, 0o644]);
  });

  it("adds nothing when the same image is written twice", async () => {
    const layers = [{ entries: [{ type: "file" as const, path: "/same", mode: 0o644, content: "same" }] }];
    await store.putImage("t/same:1", layers, CONFIG);
    const before = await storeSnapshot(store.stateDir);
    const again = await store.putImage("t/same:1", layers, CONFIG);
    assert.equal(await storeSnapshot(store.stateDir), before);
    assert.equal(again.ref, "t/same:1");
    assert.deepEqual(await readdir(path.join(store.stateDir, "tmp")), [], "no temp file left");
  });

  it("moves a tag atomically and keeps one index entry per tag", async () => {
    const one = await store.putImage("t/move:latest", [{ entries: [{ type: "file", path: "/v", mode: 0o644, content: "1" }] }], CONFIG);
    const two = await store.putImage("t/move:latest", [{ entries: [{ type: "file", path: "/v", mode: 0o644, content: "2" }] }], CONFIG);
    assert.notEqual(one.digest, two.digest);
    const index = await readJson(path.join(store.layoutDir, "index.json"));
    const entries = index.manifests.filter((m: any) => m.annotations["org.opencontainers.image.ref.name"] === "t/move:latest");
    assert.deepEqual(entries.map((m: any) => m.digest), [two.digest]);
    assert.equal((await store.resolve("t/move:latest")).digest, two.digest);
    // the old image is still reachable by digest
    assert.equal((await store.resolve(one.digest)).digest, one.digest);
  });

  it("resolves tags and digests, and reports a missing image as FNRUN_IMAGE_NOT_FOUND", async () => {
    const img = await store.resolve("t/small:v1");
    assert.equal(img.ref, "t/small:v1");
    const byDigest = await store.resolve(img.digest);
    assert.equal(byDigest.ref, img.digest);
    assert.deepEqual(byDigest.layers, img.layers);
    assert.deepEqual(await store.imageConfig("t/small:v1"), CONFIG);

    const missing = await imageError(store.resolve("t/nope:1"));
    assert.equal(missing.code, "FNRUN_IMAGE_NOT_FOUND");
    assert.equal(missing.kind, "user");
    assert.equal(missing.message, `resolve image \`t/nope:1\`: not in \`${store.layoutDir}\``);
    assert.equal((await imageError(store.resolve("sha256:" + "0".repeat(64)))).code, "FNRUN_IMAGE_NOT_FOUND");
    assert.equal((await imageError(store.putImage("Bad Ref", [], CONFIG))).code, "FNRUN_IMAGE_REF_INVALID");
  });

  it("lists tagged images with their sizes", async () => {
    const list = await store.list();
    const small = list.find((i) => i.ref === "t/small:v1");
    const img = await store.resolve("t/small:v1");
    const manifestSize = (await readFile(store.blobPath(img.digest))).length;
    const configSize = (await stat(store.blobPath(JSON.parse((await readFile(store.blobPath(img.digest))).toString()).config.digest))).size;
    assert.equal(small?.size, manifestSize + configSize + img.layers.reduce((n, l) => n + l.size, 0));
  });
});

describe("ImageStore rootfs", () => {
  it("unpacks layers in order with modes, symlinks and replaced files, once", async () => {
    await store.putImage("t/fs:1", [
      { entries: [{ type: "dir", path: "/app", mode: 0o755 }, { type: "file", path: "/app/a.txt", mode: 0o640, content: "alpha" }, { type: "file", path: "/app/gone", mode: 0o644, content: "x" }] },
      { entries: [{ type: "file", path: "/app/a.txt", mode: 0o600, content: "alpha 2" }, { type: "symlink", path: "/app/link", target: "a.txt" }, { type: "file", path: "/app/.wh.gone", mode: 0o644, content: "" }] },
    ], CONFIG);
    const [root, again] = await Promise.all([store.rootfs("t/fs:1"), store.rootfs("t/fs:1")]);
    assert.equal(root, again);
    assert.ok(root.startsWith(path.join(store.stateDir, "rootfs") + "/"));
    assert.equal(await readFile(path.join(root, "app/a.txt"), "utf8"), "alpha 2");
    assert.equal((await stat(path.join(root, "app/a.txt"))).mode & 0o7777, 0o600);
    assert.equal(await readlink(path.join(root, "app/link")), "a.txt");
    await assert.rejects(lstat(path.join(root, "app/gone")), { code: "ENOENT" });
    await assert.rejects(lstat(path.join(root, "app/.wh.gone")), { code: "ENOENT" });
    // the parent chain's rootfs is intact: the clone replaced the file, not its inode
    const parent = (await readdir(path.dirname(root))).filter((n) => !n.startsWith(".") && path.join(path.dirname(root), n) !== root);
    assert.equal(parent.length >= 1, true);
    const parentRoots = await Promise.all(parent.map(async (n) => path.join(path.dirname(root), n)));
    const withA = [];
    for (const p of parentRoots) if ((await readFile(path.join(p, "app/a.txt"), "utf8").catch(() => null)) === "alpha") withA.push(p);
    assert.equal(withA.length, 1, "the one-layer parent rootfs still holds the first a.txt");
  });

  it("applies an opaque whiteout to lower layers only", async () => {
    const lower = await rawLayer([
      { header: { name: "d/", type: "directory", mode: 0o755 } },
      { header: { name: "d/old", type: "file" }, body: "old" },
    ]);
    const upper = await rawLayer([
      { header: { name: "d/", type: "directory", mode: 0o750 } },
      { header: { name: "d/new", type: "file" }, body: "new" },
      { header: { name: "d/.wh..wh..opq", type: "file" } },
    ]);
    await store.putImage("t/opaque:1", [{ existing: lower }, { existing: upper }], CONFIG);
    const root = await store.rootfs("t/opaque:1");
    assert.deepEqual(await readdir(path.join(root, "d")), ["new"]);
    assert.equal((await stat(path.join(root, "d"))).mode & 0o7777, 0o750);
  });

  it("refuses layers that reach outside the rootfs, leaving no rootfs behind", async () => {
    const outside = path.join(tmp.dir, "outside");
    await writeFile(outside, "untouched");
    const cases: [string, Parameters<typeof rawLayer>[0], string][] = [
      ["dotdot", [{ header: { name: "../../escape", type: "file" }, body: "x" }], 'path contains ".."'],
      ["absolute", [{ header: { name: "/etc/escape", type: "file" }, body: "x" }], "absolute path"],
      ["symlink-out", [{ header: { name: "up", type: "symlink", linkname: "../../../.." } }], "points outside the rootfs"],
      ["through-symlink", [{ header: { name: "abs", type: "symlink", linkname: path.dirname(outside) } }, { header: { name: "abs/outside", type: "file" }, body: "pwned" }], "goes through a symlink"],
      ["hardlink-out", [{ header: { name: "h", type: "link", linkname: "../x" } }], 'path contains ".."'],
    ];
    for (const [name, entries, why] of cases) {
      const before = await readdir(path.join(store.stateDir, "rootfs"));
      await store.putImage(`t/unsafe:${name}`, [{ existing: await rawLayer(entries) }], CONFIG);
      const err = await imageError(store.rootfs(`t/unsafe:${name}`));
      assert.equal(err.code, "FNRUN_IMAGE_UNSAFE", name);
      assert.ok(err.message.includes(why), `${name}: ${err.message}`);
      assert.deepEqual(await readdir(path.join(store.stateDir, "rootfs")), before, `${name}: nothing left in rootfs/`);
    }
    assert.equal(await readFile(outside, "utf8"), "untouched");
  });

  it("drops setuid and setgid bits", async () => {
    await store.putImage("t/suid:1", [{ entries: [{ type: "file", path: "/bin/s", mode: 0o6755, content: "#!" }] }], CONFIG);
    const root = await store.rootfs("t/suid:1");
    assert.equal((await stat(path.join(root, "bin/s"))).mode & 0o7777, 0o755);
  });

  it("reports a layer whose content does not match its digest as FNRUN_IMAGE_CORRUPT", async () => {
    const img = await store.putImage("t/corrupt:1", [{ entries: [{ type: "file", path: "/c", mode: 0o644, content: "intact" }] }], CONFIG);
    const blobPath = store.blobPath(img.layers[0].digest);
    const gz = gzipSync(gunzipSync(await readFile(blobPath)), { level: 9 }); // same tar, other bytes
    await writeFile(blobPath, gz);
    const err = await imageError(store.rootfs("t/corrupt:1"));
    assert.equal(err.code, "FNRUN_IMAGE_CORRUPT");
    assert.equal(err.kind, "system");
    assert.match(err.message, /^unpack layer `sha256:[0-9a-f]{64}`: content has digest/);
  });

  it("removes temp files and half-unpacked rootfs dirs of dead processes on init", async () => {
    const deadPid = 2 ** 22 + 1; // above pid_max's usual 4194304 limit: never alive
    await writeFile(path.join(store.stateDir, "tmp", `${deadPid}-abc`), "junk");
    await writeFile(path.join(store.stateDir, "rootfs", `.tmp-${deadPid}-abc`), "junk");
    await writeFile(path.join(store.stateDir, "tmp", `${process.pid}-mine`), "in progress");
    const fresh = new ImageStore(store.stateDir);
    await fresh.init();
    assert.deepEqual(await readdir(path.join(store.stateDir, "tmp")), [`${process.pid}-mine`]);
    assert.ok(!(await readdir(path.join(store.stateDir, "rootfs"))).some((n) => n.startsWith(".tmp-")));
  });
});
