/**
 * The ELF reader and the native-addon checks, on real binaries: the better_sqlite3.node
 * compiled here, sharp's prebuilt addons for linux-arm64 (glibc) and linux-x64 musl from the
 * registry, the host's libc, and a better_sqlite3.node patched to another Node ABI, which real
 * node must refuse too, so the checker and reality agree.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parseElf, readElf } from "../../builder/elf.ts";
import { checkNativeFile, hostTarget, rootfsTarget, type AddedLibrary, type NativeTarget } from "../../builder/native-check.ts";
import { tempDir } from "./helpers.ts";
import { SQLITE_NODE, patchAbi } from "./native-helpers.ts";

const run = promisify(execFile);
const NATIVE = path.resolve(import.meta.dirname, "../fixtures/native");
const ARM64 = path.join(NATIVE, "foreign-binaries/node_modules/@img/sharp-linux-arm64/lib/sharp-linux-arm64.node");
const MUSL = path.join(NATIVE, "foreign-binaries/node_modules/@img/sharp-linuxmusl-x64/lib/sharp-linuxmusl-x64.node");

let tmp: { dir: string; cleanup: () => Promise<void> };
let target: NativeTarget;
before(async () => {
  tmp = await tempDir();
  target = await hostTarget();
});
after(() => tmp.cleanup());

const check = (file: string, pkg: string, t = target) =>
  checkNativeFile({ pkg, topLevel: pkg, file, shown: `node_modules/${pkg}/${path.basename(file)}` }, t, () => undefined);

describe("readElf", () => {
  it("reads class, machine, needed libraries, exports and symbol versions of the better_sqlite3.node built here", async () => {
    const elf = (await readElf(SQLITE_NODE))!;
    assert.equal(elf.bits, 64);
    assert.equal(elf.machine, process.arch === "x64" ? 62 : 183);
    assert.ok(elf.needed.includes("libc.so.6"), elf.needed.join(" "));
    assert.ok(elf.exports.includes(`node_register_module_v${process.versions.modules}`));
    assert.ok(elf.versionsNeeded["libc.so.6"].some((v) => /^GLIBC_2\.\d+/.test(v)));
    // What binutils says, for the same file.
    const { stdout } = await run("readelf", ["-d", SQLITE_NODE]);
    assert.deepEqual(elf.needed, [...stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]));
  });

  it("reads the glibc version the host's libc defines", async () => {
    const libc = target.libraries.get("libc.so.6")!;
    const elf = (await readElf(libc))!;
    assert.ok(elf.versionsDefined.includes(`GLIBC_${(process.report.getReport() as { header: { glibcVersionRuntime: string } }).header.glibcVersionRuntime}`));
  });

  it("reads sharp's arm64 and musl builds for what they are", async () => {
    const arm = (await readElf(ARM64))!;
    assert.equal(arm.machine, 183);
    assert.ok(arm.needed.includes("ld-linux-aarch64.so.1"));
    assert.ok(arm.exports.includes("napi_register_module_v1"), "sharp is an N-API addon");
    const musl = (await readElf(MUSL))!;
    assert.equal(musl.machine, 62);
    assert.ok(musl.needed.includes("libc.musl-x86_64.so.1"));
  });

  it("says null for a file that is not ELF and throws on a truncated one", async () => {
    assert.equal(await readElf(path.join(NATIVE, "sqlite/package.json")), null);
    const head = (await readFile(SQLITE_NODE)).subarray(0, 200);
    assert.throws(() => parseElf(head), /malformed ELF/);
  });
});

describe("checkNativeFile", () => {

  it("accepts the addon built here for the node that runs here", async () => {
    assert.deepEqual(await check(SQLITE_NODE, "better-sqlite3"), []);
  });

  it("refuses another architecture and another libc, saying what each is built for", async () => {
    assert.deepEqual(await check(ARM64, "@img/sharp-linux-arm64"), [
      { pkg: "@img/sharp-linux-arm64", topLevel: "@img/sharp-linux-arm64", shown: "node_modules/@img/sharp-linux-arm64/sharp-linux-arm64.node", kind: "arch", what: `is built for linux-arm64 glibc, the image runs linux-${process.arch} glibc` },
    ]);
    const [musl] = await check(MUSL, "@img/sharp-linuxmusl-x64");
    assert.equal(musl.kind, "libc");
    assert.equal(musl.what, "is built for linux-x64 musl, the image runs linux-x64 glibc");
  });

  it("refuses another Node ABI, and real node refuses the same file", async () => {
    const patched = path.join(tmp.dir, "better_sqlite3.node");
    await patchAbi(SQLITE_NODE, patched, 108);
    const problems = await check(patched, "better-sqlite3");
    assert.deepEqual(problems.map((p) => [p.kind, p.what]), [["abi", `is built for Node 18 (NODE_MODULE_VERSION 108), the image runs Node ${process.versions.node} (NODE_MODULE_VERSION ${process.versions.modules})`]]);
    const loaded = await run(process.execPath, ["-e", `process.dlopen({ exports: {} }, ${JSON.stringify(patched)})`]).then(() => "loaded", (err: { stderr: string }) => err.stderr);
    assert.match(loaded, /NODE_MODULE_VERSION 108\. This version of Node\.js requires\s+NODE_MODULE_VERSION 115|NODE_MODULE_VERSION 108/);
    assert.notEqual(loaded, "loaded");
    // The unpatched copy loads: the refusal is the ABI, nothing else.
    const good = path.join(tmp.dir, "good.node");
    await copyFile(SQLITE_NODE, good);
    await run(process.execPath, ["-e", `process.dlopen({ exports: {} }, ${JSON.stringify(good)})`]);
  });

  it("refuses a library the image lacks, and symbol versions newer than the image's library defines", async () => {
    const noStdcxx: NativeTarget = { ...target, libraries: new Map([...target.libraries].filter(([n]) => n !== "libstdc++.so.6")) };
    assert.deepEqual((await check(SQLITE_NODE, "better-sqlite3", noStdcxx)).map((p) => [p.kind, p.what]), [
      ["library", "needs the shared library libstdc++.so.6, which is neither in the image nor in the package"],
    ]);
    // An image whose libc.so.6 is the host's ld.so (which defines only a few GLIBC_ versions): the addon asks for more.
    const oldLibc: NativeTarget = { ...target, libraries: new Map([...target.libraries].map(([n, f]) => [n, n === "libc.so.6" ? target.libraries.get("ld-linux-x86-64.so.2") ?? f : f])) };
    const [version] = await check(SQLITE_NODE, "better-sqlite3", oldLibc);
    assert.equal(version.kind, "version");
    assert.match(version.what, /^needs GLIBC_2\.\d+ from libc\.so\.6, the image's libc\.so\.6 has up to GLIBC_2\.\d+$/);
  });

  it("follows RUNPATH into the copied packages: sharp's libvips needs glibc's libresolv, added from this machine's glibc", async () => {
    const sharpDir = path.join(NATIVE, "sharp/node_modules/@img");
    const files = new Map([
      ["node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64.node", path.join(sharpDir, "sharp-linux-x64/lib/sharp-linux-x64.node")],
      ["node_modules/@img/sharp-libvips-linux-x64/lib/libvips-cpp.so.8.17.2", path.join(sharpDir, "sharp-libvips-linux-x64/lib/libvips-cpp.so.8.17.2")],
    ]);
    const [addonRel, addonSrc] = [...files][0];
    const f = { pkg: "@img/sharp-linux-x64", topLevel: "sharp", file: addonSrc, shown: addonRel };
    const added = new Map<string, AddedLibrary>();
    assert.deepEqual(await checkNativeFile(f, target, (rel) => files.get(rel), added), []);
    assert.deepEqual([...added.keys()], ["libresolv.so.2"]);
    assert.equal(added.get("libresolv.so.2")!.target, `${target.glibcCompanions!.imageDir}/libresolv.so.2`);
    // An image whose glibc is not this machine's gets nothing added: the library is missing, said where.
    const foreign: NativeTarget = { ...target, glibcCompanions: undefined };
    assert.deepEqual((await checkNativeFile(f, foreign, (rel) => files.get(rel))).map((p) => [p.kind, p.shown, p.what]), [
      ["library", "node_modules/@img/sharp-libvips-linux-x64/lib/libvips-cpp.so.8.17.2", "(needed by node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64.node) needs the shared library libresolv.so.2, which is neither in the image nor in the package"],
    ]);
    // Without the libvips package in the copy, the addon itself misses it.
    assert.deepEqual((await checkNativeFile(f, target, () => undefined)).map((p) => p.what), ["needs the shared library libvips-cpp.so.8.17.2, which is neither in the image nor in the package"]);
  });
});

describe("rootfsTarget (a base from a registry)", () => {
  it("reads musl, the libraries and Node's ABI from the base's rootfs and config", async () => {
    const musl = path.join(tmp.dir, "alpine");
    await mkdir(path.join(musl, "lib"), { recursive: true });
    await mkdir(path.join(musl, "usr/lib"), { recursive: true });
    // Real files stand in for Alpine's: what matters is their names, and the symlink resolving inside the rootfs.
    await copyFile(target.libraries.get("libc.so.6")!, path.join(musl, "lib/ld-musl-x86_64.so.1"));
    await symlink("/lib/ld-musl-x86_64.so.1", path.join(musl, "lib/libc.musl-x86_64.so.1"));
    await copyFile(target.libraries.get("libstdc++.so.6")!, path.join(musl, "usr/lib/libstdc++.so.6"));
    const t = await rootfsTarget(musl, "amd64", ["PATH=/usr/bin", "NODE_VERSION=18.20.4"]);
    assert.deepEqual({ arch: t.arch, libc: t.libc, modules: t.modules, nodeVersion: t.nodeVersion }, { arch: "x64", libc: "musl", modules: "108", nodeVersion: "18.20.4" });
    assert.equal(t.libraries.get("libc.musl-x86_64.so.1"), path.join(musl, "lib/ld-musl-x86_64.so.1"), "an absolute symlink resolves inside the rootfs");
    assert.ok(t.libraries.has("libstdc++.so.6"));
    assert.equal(t.glibcCompanions, undefined);
    // Against it, the glibc addon built here is the wrong libc; sharp's musl build is right.
    assert.deepEqual((await check(SQLITE_NODE, "better-sqlite3", t)).map((p) => p.kind), ["libc"]);
    assert.equal((await check(MUSL, "@img/sharp-linuxmusl-x64", t)).some((p) => p.kind === "libc" || p.kind === "arch"), false);

    const debian = path.join(tmp.dir, "debian");
    await mkdir(path.join(debian, "lib/x86_64-linux-gnu"), { recursive: true });
    for (const [soname, file] of target.libraries) if (!soname.startsWith("ld-")) await copyFile(file, path.join(debian, "lib/x86_64-linux-gnu", soname));
    await writeFile(path.join(debian, "lib/x86_64-linux-gnu/README"), "not a library");
    const d = await rootfsTarget(debian, "amd64", ["NODE_VERSION=18.20.4"]);
    assert.equal(d.libc, "glibc");
    assert.deepEqual((await check(SQLITE_NODE, "better-sqlite3", d)).map((p) => [p.kind, p.what]), [
      ["abi", `is built for Node 20 (NODE_MODULE_VERSION 115), the image runs Node 18.20.4 (NODE_MODULE_VERSION 108)`],
      ["library", "needs the shared library ld-linux-x86-64.so.2, which is neither in the image nor in the package"],
    ]);
  });
});
