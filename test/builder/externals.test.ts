/**
 * Bundling with real npm packages: the ESM bundle's require/__dirname/__filename shims, user
 * code that defines the same names, a CommonJS function folder, and which packages stay
 * external (native ones, and those that read their own files), with the node_modules layout
 * they get. The packages come from the registry (scripts/ensure-deps.sh --test installs them
 * into test/fixtures/native/*).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { bundleFunction } from "../../builder/index.ts";
import { PackageCache, planNodeModules } from "../../builder/native-deps.ts";
import { filesOf, isRuntimeFile, writeNodeModules, digestOf } from "../../builder/node-modules-copy.ts";
import { tempDir } from "./helpers.ts";

const run = promisify(execFile);
const NATIVE = path.resolve(import.meta.dirname, "../fixtures/native");

let tmp: { dir: string; cleanup: () => Promise<void> };
before(async () => (tmp = await tempDir()));
after(() => tmp.cleanup());

/** Writes the bundle as `<dir>/index.mjs` and imports it, as the bootstrap does. */
async function load(code: Uint8Array, dir: string): Promise<{ default: { fetch(r: Request): Promise<Response> } }> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "index.mjs"), code);
  return import(pathToFileURL(path.join(dir, "index.mjs")).href);
}

async function json(mod: { default: { fetch(r: Request): Promise<Response> } }, url = "http://fn/"): Promise<any> {
  return (await mod.default.fetch(new Request(url))).json();
}

describe("shims in the ESM bundle", () => {
  it("gives bundled CommonJS require, __dirname and __filename, and a user's own top-level ones do not collide", async () => {
    const bundle = await bundleFunction(path.join(NATIVE, "shims"));
    assert.deepEqual(bundle.externals, []);
    const text = Buffer.from(bundle.code).toString("utf8");
    // esbuild renamed the user's top-level bindings; the banner's are the only `const require`.
    assert.equal(text.match(/^const require = /gm)?.length, 1, "one top-level require");
    assert.match(text, /\brequire2 = createRequire\(import\.meta\.url\)/);
    const where = path.join(tmp.dir, "shims-app");
    const out = await json(await load(bundle.code, where));
    assert.deepEqual(out, {
      user: { dirname: where, filename: path.join(where, "index.mjs"), hostnameType: "string" },
      helper: { dirname: where, filename: "index.mjs", sep: "/" },
    });
  });

  it("runs a CommonJS function folder (no \"type\": \"module\", module.exports) with a CommonJS dependency", async () => {
    const bundle = await bundleFunction(path.join(NATIVE, "cjs-function"));
    assert.deepEqual(bundle.externals, [], "mime@1 reads nothing next to itself: bundled");
    const where = path.join(tmp.dir, "cjs-fn-app");
    const out = await json(await load(bundle.code, where), "http://fn/?file=x.json");
    assert.deepEqual(out, { type: "application/json", dirname: where, filename: "index.mjs", eol: JSON.stringify("\n") });
  });
});

describe("external packages", () => {
  it("bundles mime (CommonJS, require of fs and path) and leaves figlet, which reads its fonts via __dirname, external", async () => {
    const dir = path.join(NATIVE, "cjs-packages");
    const cache = new PackageCache();
    const bundle = await bundleFunction(dir, { cache });
    assert.deepEqual(
      bundle.externals.map((e) => [e.name, e.reason, path.relative(dir, e.evidence)]),
      [["figlet", "own-files", "node_modules/figlet/lib/node-figlet.js"]],
    );
    const text = Buffer.from(bundle.code).toString("utf8");
    assert.match(text, /__require\("figlet"\)|from "figlet"/, "figlet is imported at run time");
    assert.match(text, /node_modules\/mime\/mime\.js/, "mime is inside the bundle");
    // Without its files the bundle cannot run; with the planned node_modules beside it, it does.
    const where = path.join(tmp.dir, "cjs-packages-app");
    const placements = await planNodeModules(bundle.externals, cache);
    assert.deepEqual(placements.map((p) => p.dest), ["node_modules/figlet"]);
    const files = await filesOf(placements);
    assert.ok(files.some((f) => f.rel === "node_modules/figlet/fonts/Standard.flf"));
    await mkdir(where, { recursive: true });
    await writeNodeModules(where, files, await digestOf(files));
    const out = await json(await load(bundle.code, where));
    assert.equal(out.type, "application/json");
    const { stdout: expected } = await run(process.execPath, ["-e", 'process.stdout.write(require("figlet").textSync("fn", { font: "Standard" }))'], { cwd: dir });
    assert.equal(out.banner, expected, "the fonts were read from /app/node_modules/figlet/fonts");
    assert.match(out.banner, /\|_\| \|_\|/);
  });

  it("keeps better-sqlite3 external as native and lays out its runtime closure, without the compile's leftovers", async () => {
    const dir = path.join(NATIVE, "sqlite");
    const cache = new PackageCache();
    const bundle = await bundleFunction(dir, { cache });
    assert.deepEqual(bundle.externals.map((e) => [e.name, e.reason]), [["better-sqlite3", "native"]]);
    assert.match(bundle.externals[0].evidence, /better-sqlite3\/(binding\.gyp|build\/Release\/better_sqlite3\.node)$/);
    const placements = await planNodeModules(bundle.externals, cache);
    const dests = placements.map((p) => p.dest);
    assert.ok(dests.includes("node_modules/better-sqlite3") && dests.includes("node_modules/bindings") && dests.includes("node_modules/file-uri-to-path"), dests.join(" "));
    // The closure is what better-sqlite3 declares, transitively: prebuild-install's tree is in it, nothing else of the folder.
    const installed = JSON.parse(await readFile(path.join(dir, "node_modules/.package-lock.json"), "utf8")).packages as Record<string, unknown>;
    assert.equal(dests.length, Object.keys(installed).filter((k) => k.startsWith("node_modules/")).length);
    const files = await filesOf(placements);
    const rels = files.map((f) => f.rel);
    assert.ok(rels.includes("node_modules/better-sqlite3/build/Release/better_sqlite3.node"));
    assert.ok(rels.includes("node_modules/better-sqlite3/lib/index.js"));
    assert.ok(!rels.some((r) => /obj\.target|\.o$|\.a$|sqlite3\.c$|Makefile|\.d\.ts$/.test(r)), "no compile leftovers, sources or types");
    assert.ok(!rels.some((r) => r.includes("/.bin/")));
  });

  it("nests a dependency whose name is taken higher up by another version, so Node resolves in the copy what it resolved in the folder", async () => {
    // A monorepo: the function's own node_modules and the root's, with two versions of `dep`.
    const root = path.join(tmp.dir, "mono");
    const pkg = async (dir: string, name: string, version: string, deps: Record<string, string> = {}, extra: Record<string, string> = {}) => {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, "package.json"), JSON.stringify({ name, version, main: "index.js", dependencies: deps }));
      const requires = Object.keys(deps).map((d) => `${JSON.stringify(d)}: require(${JSON.stringify(d)})`).join(", ");
      await writeFile(path.join(dir, "index.js"), `module.exports = { name: ${JSON.stringify(name)}, version: ${JSON.stringify(version)}, deps: { ${requires} } };\n`);
      for (const [f, t] of Object.entries(extra)) await writeFile(path.join(dir, f), t);
    };
    const fn = path.join(root, "functions", "f");
    await pkg(path.join(fn, "node_modules", "addon"), "addon", "1.0.0", { dep: "^2", shared: "^1" }, { "binding.gyp": "{}", "x.node": "" });
    await pkg(path.join(fn, "node_modules", "dep"), "dep", "2.0.0");
    await pkg(path.join(root, "node_modules", "other"), "other", "1.0.0", { dep: "^1", shared: "^1" }, { "y.node": "" });
    await pkg(path.join(root, "node_modules", "dep"), "dep", "1.0.0");
    await pkg(path.join(root, "node_modules", "shared"), "shared", "1.0.0");
    const cache = new PackageCache();
    const tops = [
      { name: "addon", dir: path.join(fn, "node_modules", "addon") },
      { name: "other", dir: path.join(root, "node_modules", "other") },
    ];
    const placements = await planNodeModules(tops, cache);
    assert.deepEqual(
      placements.map((p) => [p.dest, path.relative(root, p.src)]),
      [
        ["node_modules/addon", "functions/f/node_modules/addon"],
        ["node_modules/dep", "functions/f/node_modules/dep"],
        ["node_modules/other", "node_modules/other"],
        ["node_modules/other/node_modules/dep", "node_modules/dep"],
        ["node_modules/shared", "node_modules/shared"],
      ],
    );
    // Real node agrees: in the copy, each package gets the dependency it got in the folder.
    const app = path.join(tmp.dir, "mono-app");
    await mkdir(app, { recursive: true });
    const files = await filesOf(placements);
    await writeNodeModules(app, files, await digestOf(files));
    const { stdout } = await run(process.execPath, ["-e", 'console.log(JSON.stringify([require("addon"), require("other")]))'], { cwd: app });
    assert.deepEqual(JSON.parse(stdout), [
      { name: "addon", version: "1.0.0", deps: { dep: { name: "dep", version: "2.0.0", deps: {} }, shared: { name: "shared", version: "1.0.0", deps: {} } } },
      { name: "other", version: "1.0.0", deps: { dep: { name: "dep", version: "1.0.0", deps: {} }, shared: { name: "shared", version: "1.0.0", deps: {} } } },
    ]);
  });

  it("refuses two different native packages imported under one name, naming both", async () => {
    const fnDir = path.join(tmp.dir, "conflict");
    const write = async (dir: string, files: Record<string, string>) => {
      await mkdir(dir, { recursive: true });
      for (const [f, t] of Object.entries(files)) await writeFile(path.join(dir, f), t);
    };
    const native = (version: string) => ({ "package.json": JSON.stringify({ name: "addon", version, main: "index.js" }), "index.js": "module.exports = 1;", "addon.node": "" });
    await write(fnDir, { "index.mjs": 'import a from "addon"; import b from "wrapper"; export default () => new Response(String(a + b));' });
    await write(path.join(fnDir, "node_modules/addon"), native("2.0.0"));
    await write(path.join(fnDir, "node_modules/wrapper"), { "package.json": JSON.stringify({ name: "wrapper", version: "1.0.0", main: "index.js", dependencies: { addon: "1" } }), "index.js": 'module.exports = require("addon");' });
    await write(path.join(fnDir, "node_modules/wrapper/node_modules/addon"), native("1.0.0"));
    // wrapper's closure is native too, so wrapper stays external as a whole: no conflict there.
    const fine = await bundleFunction(fnDir);
    assert.deepEqual(fine.externals.map((e) => e.name), ["addon", "wrapper"]);
    // A bundled module that requires the other addon directly: both would be /app/node_modules/addon.
    await write(path.join(fnDir, "lib"), { "inner.cjs": 'module.exports = require("./node_modules/addon-user.cjs");' });
    await write(path.join(fnDir, "lib/node_modules"), { "addon-user.cjs": 'module.exports = require("addon");' });
    await write(path.join(fnDir, "lib/node_modules/addon"), native("1.5.0"));
    await writeFile(path.join(fnDir, "index.mjs"), 'import a from "addon"; import b from "./lib/inner.cjs"; export default () => new Response(String(a + b));');
    await assert.rejects(bundleFunction(fnDir), (err: Error & { code?: string }) => {
      assert.equal(err.code, "FNRUN_BUILD_EXTERNAL_CONFLICT");
      assert.match(err.message, new RegExp(`two different packages are imported as \`addon\`: ${fnDir}/lib/node_modules/addon and ${fnDir}/node_modules/addon|two different packages are imported as \`addon\`: ${fnDir}/node_modules/addon and ${fnDir}/lib/node_modules/addon`));
      assert.match(err.message, /fix: make them one version/);
      return true;
    });
  });

  it("leaves out only what a compile left behind, and type declarations", () => {
    assert.equal(isRuntimeFile("build/Release/x.node", true), true);
    assert.equal(isRuntimeFile("build/Release/obj.target/x/src/a.o", true), false);
    assert.equal(isRuntimeFile("build/Release/obj.target/x.node", true), false, "make's copy before it lands in build/Release");
    assert.equal(isRuntimeFile("build/config.gypi", true), false);
    assert.equal(isRuntimeFile("deps/sqlite3/sqlite3.c", true), false);
    assert.equal(isRuntimeFile("lib/index.js", true), true);
    assert.equal(isRuntimeFile("build/index.js", false), true, "a build/ folder of a package not compiled here is its code");
    assert.equal(isRuntimeFile("src/a.h", false), true);
    assert.equal(isRuntimeFile("lib/index.d.ts", false), false);
  });
});
