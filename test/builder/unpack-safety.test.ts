/**
 * Crafted layers against the unpacker, beyond the basic cases of image-store.test.ts: each
 * tries to write, delete or link outside the rootfs (or to plant a device or a setuid file)
 * in another way; each must be refused or neutralized, and the outside must stay untouched.
 */
import assert from "node:assert/strict";
import { chmod, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import tar from "tar-stream";
import { ImageError, ImageStore, LAYER_MEDIA_TYPE, type LayerInfo } from "../../builder/index.ts";
import { sha256Hex, tempDir } from "./helpers.ts";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: ImageStore;
let outside: string;
let seq = 0;

before(async () => {
  tmp = await tempDir();
  store = new ImageStore(path.join(tmp.dir, "state"));
  await store.init();
  // What the layers aim at: a directory and a file beside the state dir.
  outside = path.join(tmp.dir, "outside");
  await mkdir(outside, { mode: 0o755 });
  await chmod(outside, 0o755);
  await writeFile(path.join(outside, "secret"), "untouched");
});
after(() => tmp?.cleanup());

type Entry = { header: Partial<tar.Header> & { name: string }; body?: string };

async function layer(entries: Entry[]): Promise<LayerInfo> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on("end", () => r()));
  for (const e of entries) pack.entry({ mode: 0o644, ...e.header }, e.body ?? "");
  pack.finalize();
  await ended;
  const tarBytes = Buffer.concat(chunks);
  const { digest, size } = await store.putBlob(gzipSync(tarBytes));
  return { mediaType: LAYER_MEDIA_TYPE, digest, size, diffId: `sha256:${sha256Hex(tarBytes)}` };
}

/** Unpacks an image of these layers; returns its rootfs, or the error. */
async function unpack(...layers: Entry[][]): Promise<string | ImageError> {
  const ref = `t/safety:${seq++}`;
  await store.putImage(ref, await Promise.all(layers.map(async (l) => ({ existing: await layer(l) }))), {});
  return store.rootfs(ref).catch((err) => {
    assert.ok(err instanceof ImageError, String(err));
    return err;
  });
}

async function outsideIntact(): Promise<void> {
  assert.deepEqual(await readdir(outside), ["secret"]);
  assert.equal(await readFile(path.join(outside, "secret"), "utf8"), "untouched");
  assert.equal((await stat(outside)).mode & 0o7777, 0o755);
}

function refused(r: string | ImageError, why: RegExp): void {
  assert.ok(r instanceof ImageError, `expected a refusal, got rootfs ${r}`);
  assert.equal(r.code, "FNRUN_IMAGE_UNSAFE");
  assert.match(r.message, why);
}

describe("unpacking crafted layers", () => {
  it("refuses a hard link to an absolute path", async () => {
    refused(await unpack([{ header: { name: "h", type: "link", linkname: path.join(outside, "secret") } }]), /^unpack layer entry `\/.*secret`: absolute path; refused$/);
    await outsideIntact();
  });

  it("refuses a hard link whose source goes through a symlink (absolute target) to outside", async () => {
    refused(await unpack([
      { header: { name: "out", type: "symlink", linkname: outside } },
      { header: { name: "h", type: "link", linkname: "out/secret" } },
    ]), /`out`: a path goes through a symlink; refused/);
    await outsideIntact();
  });

  it("refuses a whiteout that would delete through a symlinked directory", async () => {
    refused(await unpack(
      [{ header: { name: "out", type: "symlink", linkname: outside } }],
      [{ header: { name: "out/.wh.secret", type: "file" } }],
    ), /`out`: a path goes through a symlink; refused/);
    await outsideIntact();
  });

  it("refuses an opaque whiteout inside a symlinked directory", async () => {
    refused(await unpack(
      [{ header: { name: "out", type: "symlink", linkname: outside } }],
      [{ header: { name: "out/.wh..wh..opq", type: "file" } }],
    ), /a path goes through a symlink/);
    await outsideIntact();
  });

  it("refuses a directory swapped for a symlink in a later layer, then written through", async () => {
    refused(await unpack(
      [{ header: { name: "d/", type: "directory", mode: 0o755 } }],
      [{ header: { name: "d", type: "symlink", linkname: outside } }, { header: { name: "d/planted", type: "file" }, body: "x" }],
    ), /`d`: a path goes through a symlink/);
    await outsideIntact();
  });

  it("replaces a symlink to outside by the file written at its path, never writing through it", async () => {
    const root = await unpack(
      [{ header: { name: "f", type: "symlink", linkname: path.join(outside, "secret") } }],
      [{ header: { name: "f", type: "file" }, body: "inside" }],
    );
    assert.equal(typeof root, "string");
    assert.equal(await readFile(path.join(root as string, "f"), "utf8"), "inside");
    assert.ok((await lstat(path.join(root as string, "f"))).isFile());
    await outsideIntact();
  });

  it("replaces a symlink to an outside directory by a directory, never chmod-ing through it", async () => {
    const root = await unpack([
      { header: { name: "d", type: "symlink", linkname: outside } },
      { header: { name: "d/", type: "directory", mode: 0o700 } },
    ]);
    assert.equal(typeof root, "string");
    assert.ok((await lstat(path.join(root as string, "d"))).isDirectory());
    await outsideIntact();
  });

  it("keeps absolute symlinks as they are (they resolve inside the container) but refuses relative ones climbing out", async () => {
    const root = await unpack([{ header: { name: "etc-link", type: "symlink", linkname: "/etc/passwd" } }]);
    assert.equal(await readlink(path.join(root as string, "etc-link")), "/etc/passwd");
    refused(await unpack([{ header: { name: "a/b/up", type: "symlink", linkname: "../../../x" } }]), /points outside the rootfs/);
  });

  it("creates no device nodes or fifos", async () => {
    const root = await unpack([
      { header: { name: "dev/", type: "directory", mode: 0o755 } },
      { header: { name: "dev/mem", type: "character-device", devmajor: 1, devminor: 1, mode: 0o666 } },
      { header: { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0, mode: 0o666 } },
      { header: { name: "dev/pipe", type: "fifo", mode: 0o666 } },
      { header: { name: "ok", type: "file" }, body: "ok" },
    ]);
    assert.equal(typeof root, "string");
    assert.deepEqual(await readdir(path.join(root as string, "dev")), []);
    assert.equal(await readFile(path.join(root as string, "ok"), "utf8"), "ok");
  });

  it("drops setuid, setgid from files and directories, keeps the sticky bit", async () => {
    const root = await unpack([
      { header: { name: "bin/", type: "directory", mode: 0o2755 } },
      { header: { name: "bin/su", type: "file", mode: 0o4755 }, body: "#!" },
      { header: { name: "bin/sg", type: "file", mode: 0o2711 }, body: "#!" },
      { header: { name: "tmp/", type: "directory", mode: 0o1777 } },
    ]);
    const mode = async (p: string) => (await stat(path.join(root as string, p))).mode & 0o7777;
    assert.equal(await mode("bin"), 0o755);
    assert.equal(await mode("bin/su"), 0o755);
    assert.equal(await mode("bin/sg"), 0o711);
    assert.equal(await mode("tmp"), 0o1777);
  });

  it("applies whiteouts to lower layers as image-spec layer.md says: file, directory, opaque", async () => {
    const root = await unpack(
      [
        { header: { name: "a/", type: "directory", mode: 0o755 } },
        { header: { name: "a/keep", type: "file" }, body: "k" },
        { header: { name: "a/gone", type: "file" }, body: "g" },
        { header: { name: "tree/", type: "directory", mode: 0o755 } },
        { header: { name: "tree/deep/", type: "directory", mode: 0o755 } },
        { header: { name: "tree/deep/f", type: "file" }, body: "f" },
        { header: { name: "opq/", type: "directory", mode: 0o755 } },
        { header: { name: "opq/old", type: "file" }, body: "o" },
      ],
      [
        { header: { name: "a/.wh.gone", type: "file" } },
        { header: { name: ".wh.tree", type: "file" } },
        // the opaque marker after this layer's own entry: order inside the tar does not matter
        { header: { name: "opq/new", type: "file" }, body: "n" },
        { header: { name: "opq/.wh..wh..opq", type: "file" } },
      ],
    );
    assert.deepEqual(await readdir(path.join(root as string, "a")), ["keep"]);
    await assert.rejects(lstat(path.join(root as string, "tree")), { code: "ENOENT" });
    assert.deepEqual(await readdir(path.join(root as string, "opq")), ["new"]);
    for (const dir of ["", "a", "opq"]) assert.ok(!(await readdir(path.join(root as string, dir))).some((n) => n.startsWith(".wh.")), "no whiteout files remain");
  });
});
