/**
 * loadFunction (runtime/bootstrap/function-module.ts) on real files, in a plain `node` child as
 * the bootstrap runs it (this test process has tsx's loader hooks, which change what require()
 * does with a module): the bundle goes through require(esm) when node has it and through
 * import() for a missing entry or top-level await, and either way the function's module runs
 * exactly once and a failure is the module's own error.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { build } from "esbuild";

const run = promisify(execFile);

/** What the child reports for one entry. */
interface Outcome {
  ok: boolean;
  fetch?: unknown;
  scheduled?: unknown;
  error?: { name: string; code?: string; message: string };
  /** Evaluations counted by the test modules, by name. */
  runs: Record<string, number>;
  /** The entry is in require's cache: it was read by require(esm). */
  viaRequire: boolean;
  requireModule: boolean;
}

/** The child: loadFunction on argv[2], then the outcome as JSON. */
const CHILD = `
import { createRequire } from "node:module";
import { loadFunction } from "./function-module.mjs";
const entry = process.argv[2];
const out = { runs: globalThis.fnrunTestRuns ?? {} };
try {
  const fn = await loadFunction(entry);
  Object.assign(out, { ok: true, fetch: await fn.fetch(), scheduled: fn.scheduled ? await fn.scheduled() : undefined });
} catch (err) {
  Object.assign(out, { ok: false, error: { name: err.name, code: err.code, message: err.message } });
}
out.runs = globalThis.fnrunTestRuns ?? {};
out.viaRequire = Object.hasOwn(createRequire(import.meta.url).cache, entry);
out.requireModule = process.features.require_module === true;
console.log(JSON.stringify(out));
`;

/** A module body that counts its own evaluations under `name`. */
const counted = (name: string) => `globalThis.fnrunTestRuns ??= {}; globalThis.fnrunTestRuns[${JSON.stringify(name)}] = (globalThis.fnrunTestRuns[${JSON.stringify(name)}] ?? 0) + 1;\n`;

describe("loadFunction, in a plain node child", () => {
  let dir = "";
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const load = async (entry: string): Promise<Outcome> => {
    const { stdout } = await run(process.execPath, [join(dir, "child.mjs"), entry], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 30_000 });
    return JSON.parse(stdout) as Outcome;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fnrun-fnmod-"));
    await build({ entryPoints: [resolve(import.meta.dirname, "../../runtime/bootstrap/function-module.ts")], bundle: true, format: "esm", platform: "node", outfile: join(dir, "function-module.mjs"), logLevel: "silent" });
    await file("child.mjs", CHILD);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a module worker: handlers found, the module run once, read by require(esm) where node has it", async () => {
    const entry = await file("plain.mjs", `${counted("plain")}export default { fetch() { return "hi"; }, scheduled() { return "tick"; } };\n`);
    const out = await load(entry);
    assert.deepEqual([out.ok, out.fetch, out.scheduled, out.runs], [true, "hi", "tick", { plain: 1 }]);
    assert.equal(out.viaRequire, out.requireModule, "read synchronously exactly when node can");
  });

  test("top-level await, also in a dependency: refused by require before anything ran, imported once", async () => {
    await file("slow-dep.mjs", `${counted("slow-dep")}await new Promise((r) => setTimeout(r, 5));\nexport const value = "42";\n`);
    const entry = await file("tla.mjs", `${counted("tla")}import { value } from "./slow-dep.mjs";\nexport default () => value;\n`);
    const out = await load(entry);
    assert.deepEqual([out.ok, out.fetch, out.runs], [true, "42", { "slow-dep": 1, tla: 1 }]);
    assert.equal(out.viaRequire, false);
  });

  test("a module that throws while it runs: its own error, and it ran once", async () => {
    const entry = await file("throws.mjs", `${counted("throws")}throw new Error("boom at import");\n`);
    const out = await load(entry);
    assert.deepEqual([out.ok, out.error?.message, out.runs], [false, "boom at import", { throws: 1 }]);
  });

  test("a missing entry and a syntax error: import()'s errors, no CommonJS require stack", async () => {
    const missing = await load(join(dir, "missing.mjs"));
    assert.equal(missing.error?.code, "ERR_MODULE_NOT_FOUND");
    assert.match(missing.error!.message, /missing\.mjs/);
    assert.doesNotMatch(missing.error!.message, /Require stack/);
    const broken = await load(await file("broken.mjs", "export default {;\n"));
    assert.equal(broken.error?.name, "SyntaxError");
  });

  test("a default export that is no handler: the TypeError that names the fix", async () => {
    const out = await load(await file("shape.mjs", "export default 42;\n"));
    assert.match(out.error!.message, /default export must be a function or an object with fetch\(request, env, ctx\)/);
  });
});
