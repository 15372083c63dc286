/**
 * Function images with external packages: better-sqlite3 (compiled here from the registry's
 * package) lands in /app/node_modules of the function's layer; the revision follows the
 * external files; a native addon that does not match the image fails the build, names the
 * package and the fix, and writes nothing.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFile, cp, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { BuildError, ImageStore, buildFunction, ensureBaseImage, type ImageInfo } from "../../builder/index.ts";
import { FIXTURES, storeSnapshot, tempDir } from "./helpers.ts";
import { SQLITE_NODE, patchAbi } from "./native-helpers.ts";

const run = promisify(execFile);
const NATIVE = path.resolve(import.meta.dirname, "../fixtures/native");

let tmp: { dir: string; cleanup: () => Promise<void> };
let state: string;
let store: ImageStore;
let base: ImageInfo;

before(async () => {
  tmp = await tempDir();
  state = path.join(tmp.dir, "s");
  store = new ImageStore(state);
  await store.init();
  base = await ensureBaseImage(store, { bootstrap: "console.log('bootstrap')" });
});
after(() => tmp.cleanup());

async function buildError(p: Promise<unknown>): Promise<BuildError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BuildError, `expected a BuildError, got ${(err as Error)?.stack}`);
    return err;
  }
  assert.fail("build succeeded");
}

/** A copy of the sqlite fixture (with its installed node_modules) that a test may change. */
async function sqliteCopy(name: string): Promise<string> {
  const dir = path.join(tmp.dir, name);
  await cp(path.join(NATIVE, "sqlite"), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

describe("a function with a native package", () => {
  it("puts better-sqlite3 and its runtime closure in /app/node_modules of one extra layer", async (t) => {
    const t0 = performance.now();
    const plain = await buildFunction(store, { name: "plain", dir: path.join(FIXTURES, "good"), stateDir: state, base });
    const plainMs = performance.now() - t0;
    const t1 = performance.now();
    const result = await buildFunction(store, { name: "sqlite", dir: path.join(NATIVE, "sqlite"), stateDir: state, base });
    const nativeMs = performance.now() - t1;
    assert.deepEqual(result.externals, [{ name: "better-sqlite3", reason: "native" }]);
    assert.match(result.dockerfile, /^COPY index\.mjs \/app\/index\.mjs\nCOPY node_modules \/app\/node_modules\n/m);
    assert.equal(plain.dockerfile.includes("node_modules"), false, "no node_modules line without externals");
    assert.equal(result.image.layers.length, base.layers.length + 2);
    assert.equal(plain.image.layers.length, base.layers.length + 1);
    assert.equal(result.image.config.history?.filter((h) => !h.empty_layer).at(-1)?.created_by, "COPY node_modules /app/node_modules");

    const rootfs = await store.rootfs(result.image.digest);
    const addon = await stat(path.join(rootfs, "app/node_modules/better-sqlite3/build/Release/better_sqlite3.node"));
    assert.equal(addon.size, (await stat(SQLITE_NODE)).size);
    assert.equal(addon.mode & 0o777, 0o755);
    assert.equal((await stat(path.join(rootfs, "app/node_modules/better-sqlite3/lib/index.js"))).mode & 0o777, 0o644);
    assert.ok((await stat(path.join(rootfs, "app/node_modules/bindings/bindings.js"))).isFile());
    await assert.rejects(stat(path.join(rootfs, "app/node_modules/better-sqlite3/build/Release/obj.target")), { code: "ENOENT" });
    await assert.rejects(stat(path.join(rootfs, "app/node_modules/better-sqlite3/deps/sqlite3/sqlite3.c")), { code: "ENOENT" });
    // umoci, the OCI tool, unpacks the same: node loads the addon from its rootfs.
    const unpacked = path.join(tmp.dir, "umoci-sqlite");
    await run("umoci", ["unpack", "--image", `${store.layoutDir}:${result.image.ref}`, unpacked]);
    const umociAddon = path.join(unpacked, "rootfs/app/node_modules/better-sqlite3");
    const { stdout } = await run(process.execPath, ["-e", `const D = require(${JSON.stringify(umociAddon)}); console.log(new D(":memory:").prepare("select 6*7 as x").get().x)`]);
    assert.equal(stdout.trim(), "42");

    const [installed] = (await run("du", ["-sk", path.join(NATIVE, "sqlite/node_modules")])).stdout.split("\t");
    const [copied] = (await run("du", ["-sk", path.join(result.contextDir, "node_modules")])).stdout.split("\t");
    t.diagnostic(`build: ${Math.round(plainMs)} ms without external packages, ${Math.round(nativeMs)} ms with better-sqlite3`);
    t.diagnostic(`node_modules: ${installed} KiB installed, ${copied} KiB copied; its layer ${(result.image.layers.at(-1)!.size / 1024).toFixed(0)} KiB gzipped (bundle layer ${(result.image.layers.at(-2)!.size / 1024).toFixed(0)} KiB)`);
  });

  it("makes a new revision when an external file changes (npm rebuild), and writes nothing when nothing changed", async () => {
    const dir = await sqliteCopy("sqlite-rev");
    const first = await buildFunction(store, { name: "rev", dir, stateDir: state, base });
    assert.ok(first.nodeModulesDigest?.startsWith("sha256:"));
    const snapshot = await storeSnapshot(state);
    const again = await buildFunction(store, { name: "rev", dir, stateDir: state, base });
    assert.equal(again.image.ref, first.image.ref);
    assert.equal(await storeSnapshot(state), snapshot, "an unchanged folder adds nothing to the store");
    await appendFile(path.join(dir, "node_modules/better-sqlite3/lib/index.js"), "\n// rebuilt\n");
    const changed = await buildFunction(store, { name: "rev", dir, stateDir: state, base });
    assert.equal(changed.bundleDigest, first.bundleDigest, "the bundle is the same");
    assert.notEqual(changed.nodeModulesDigest, first.nodeModulesDigest);
    assert.notEqual(changed.image.ref, first.image.ref, "but the revision is new");
    assert.match(await readFile(path.join(changed.contextDir, "node_modules/better-sqlite3/lib/index.js"), "utf8"), /\/\/ rebuilt/);
  });
});

describe("sharp", () => {
  it("is external through its closure; its libvips' need for glibc's libresolv is met by adding this machine's beside the base's libc", async () => {
    const result = await buildFunction(store, { name: "sharp", dir: path.join(NATIVE, "sharp"), stateDir: state, base });
    assert.deepEqual(result.externals, [{ name: "sharp", reason: "native" }]);
    const libDir = "/lib/x86_64-linux-gnu";
    assert.match(result.dockerfile, new RegExp(`^COPY index\\.mjs /app/index\\.mjs\nCOPY libs ${libDir}/\nCOPY node_modules /app/node_modules\n`, "m"));
    const rootfs = await store.rootfs(result.image.digest);
    const host = await readFile(path.join(libDir, "libresolv.so.2"));
    assert.ok((await readFile(path.join(rootfs, libDir, "libresolv.so.2"))).equals(host));
    assert.ok((await stat(path.join(rootfs, libDir, "libc.so.6"))).isFile(), "the base's libraries are still there");
    for (const f of ["sharp/lib/index.js", "@img/sharp-linux-x64/lib/sharp-linux-x64.node", "@img/sharp-libvips-linux-x64/lib/libvips-cpp.so.8.17.2", "detect-libc/package.json"]) {
      assert.ok((await stat(path.join(rootfs, "app/node_modules", f))).isFile(), f);
    }
  });
});

describe("a native addon that does not match the image", () => {
  const refused = async (name: string, dir: string) => {
    const before = await storeSnapshot(state);
    const err = await buildError(buildFunction(store, { name, dir, stateDir: state, base }));
    assert.equal(err.code, "FNRUN_BUILD_NATIVE_MISMATCH");
    assert.equal(err.kind, "user");
    assert.equal(await storeSnapshot(state), before, "nothing reached the store");
    await assert.rejects(stat(path.join(state, "build", name)), { code: "ENOENT" }, "no build context was written");
    return err;
  };

  it("fails for sharp's linux-arm64 build, naming the package, the file, both platforms and the fix", async () => {
    const dir = path.join(NATIVE, "foreign-binaries/arm64");
    const err = await refused("arm", dir);
    assert.equal(
      err.message,
      `bundle \`${path.relative(process.cwd(), dir)}\`: native addon does not match the image:\n` +
        `  @img/sharp-linux-arm64: node_modules/@img/sharp-linux-arm64/lib/sharp-linux-arm64.node is built for linux-arm64 glibc, the image runs linux-${process.arch} glibc\n` +
        `  fix: install the ${process.arch}/glibc build: in ${path.relative(process.cwd(), dir)} run \`npm install --os=linux --cpu=${process.arch} --libc=glibc\` (packages with per-platform optional dependencies, like sharp), or \`npm rebuild @img/sharp-linux-arm64\` on a linux-${process.arch} glibc machine with Node ${process.versions.node.split(".")[0]}`,
    );
  });

  it("fails for sharp's musl build", async () => {
    const err = await refused("musl", path.join(NATIVE, "foreign-binaries/musl"));
    assert.match(err.message, /@img\/sharp-linuxmusl-x64: node_modules\/@img\/sharp-linuxmusl-x64\/lib\/sharp-linuxmusl-x64\.node is built for linux-x64 musl, the image runs linux-x64 glibc/);
    assert.match(err.message, /fix: install the x64\/glibc build: .*npm install --os=linux --cpu=x64 --libc=glibc/);
  });

  it("fails for a better-sqlite3 built for another Node", async () => {
    const dir = await sqliteCopy("sqlite-abi");
    await patchAbi(SQLITE_NODE, path.join(dir, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"), 108);
    const err = await refused("abi", dir);
    assert.match(err.message, /better-sqlite3: node_modules\/better-sqlite3\/build\/Release\/better_sqlite3\.node is built for Node 18 \(NODE_MODULE_VERSION 108\), the image runs Node 20\.\d+\.\d+ \(NODE_MODULE_VERSION 115\)/);
    assert.match(err.message, /fix: rebuild it for the image's Node: in .*sqlite-abi run `npm rebuild better-sqlite3` on a linux-x64 glibc machine with Node 20/);
  });
});
