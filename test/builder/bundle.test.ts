import assert from "node:assert/strict";
import { cp, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { bundleFunction, BuildError } from "../../builder/index.ts";
import { FIXTURES, sha256Hex, tempDir } from "./helpers.ts";

let tmp: { dir: string; cleanup: () => Promise<void> };
before(async () => (tmp = await tempDir()));
after(() => tmp.cleanup());

/** Writes a function folder with the given files and returns its path. */
async function fn(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(tmp.dir, name);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

async function buildError(dir: string): Promise<BuildError> {
  try {
    await bundleFunction(dir);
  } catch (err) {
    assert.ok(err instanceof BuildError, `expected a BuildError, got ${err}`);
    return err;
  }
  assert.fail("bundle succeeded");
}

describe("bundleFunction", () => {
  it("bundles a TypeScript function with its CommonJS npm dependency into runnable ESM", async () => {
    const good = path.join(FIXTURES, "good");
    const bundle = await bundleFunction(good);
    assert.equal(bundle.entry, path.join(good, "index.ts"));
    assert.equal(bundle.digest, `sha256:${sha256Hex(bundle.code)}`);
    const text = Buffer.from(bundle.code).toString("utf8");
    assert.match(text, /createRequire/);
    assert.doesNotMatch(text, /from "tiny-greet"/, "the dependency is inlined, not imported");
    // Run it outside the fixture folder: it must need nothing but node builtins.
    const out = path.join(tmp.dir, "good-bundle.mjs");
    await writeFile(out, bundle.code);
    const mod = await import(pathToFileURL(out).href);
    const res: Response = await mod.default.fetch(new Request("http://x/?name=ada"));
    assert.equal(await res.text(), "hello ada from index.js");
  });

  it("gives the same bytes for the same folder in another place", async () => {
    const copy = path.join(tmp.dir, "good-copy");
    await cp(path.join(FIXTURES, "good"), copy, { recursive: true });
    const [a, b] = await Promise.all([bundleFunction(path.join(FIXTURES, "good")), bundleFunction(copy)]);
    assert.equal(a.digest, b.digest);
  });

  it("prefers index.ts over index.js and index.mjs", async () => {
    const dir = await fn("prefer", { "index.mjs": "export default () => 'mjs';", "index.js": "export default () => 'js';", "index.ts": "export default (): string => 'ts';" });
    assert.equal((await bundleFunction(dir)).entry, path.join(dir, "index.ts"));
    const dir2 = await fn("prefer2", { "index.mjs": "export default () => 'mjs';" });
    assert.equal((await bundleFunction(dir2)).entry, path.join(dir2, "index.mjs"));
  });

  it("names the folder and the three entry names when there is no entry", async () => {
    const dir = await fn("noentry", { "main.ts": "export default 1;" });
    const err = await buildError(dir);
    assert.equal(err.code, "FNRUN_BUILD_NO_ENTRY");
    assert.equal(err.kind, "user");
    assert.ok(err.message.startsWith(`bundle \`${dir}\`: no entry file (looked for index.ts, index.js, index.mjs)`), err.message);
    assert.match(err.message, /fix: create .*index\.ts/);
  });

  it("reports a syntax error with file, line and column", async () => {
    const dir = await fn("syntax", { "index.ts": "export default {\n  fetch() {\n    const a = 1 x;\n  },\n};\n" });
    const err = await buildError(dir);
    const file = path.join(dir, "index.ts"); // outside the cwd, so absolute
    assert.equal(err.code, "FNRUN_BUILD_SYNTAX");
    assert.equal(err.file, file);
    assert.equal(err.line, 3);
    assert.equal(err.column, 17);
    assert.ok(err.message.startsWith(`${file}:3:17: Expected ";" but found "x"`), err.message);
    assert.match(err.message, /fix: /);
  });

  it("shows the file relative to the working directory when inside it", async () => {
    const dir = await fn("rel/functions/bad", { "index.ts": "export default 1 +;\n" });
    const cwd = process.cwd();
    process.chdir(path.join(tmp.dir, "rel"));
    try {
      const err = await buildError("functions/bad");
      assert.equal(err.file, "functions/bad/index.ts");
      assert.ok(err.message.startsWith("functions/bad/index.ts:1:19: "), err.message);
    } finally {
      process.chdir(cwd);
    }
    assert.ok(dir);
  });

  it("reports an unresolved package import with the npm install fix", async () => {
    const dir = await fn("unresolved", { "index.ts": "// needs a package\nimport x from \"no-such-pkg/sub\";\nexport default x;\n" });
    const err = await buildError(dir);
    assert.equal(err.code, "FNRUN_BUILD_UNRESOLVED");
    assert.equal(err.line, 2);
    assert.ok(err.message.startsWith(`${path.join(dir, "index.ts")}:2:15: Could not resolve "no-such-pkg/sub"`), err.message);
    assert.match(err.message, /fix: run `npm install no-such-pkg` in /);
  });

  it("reports an unresolved relative import in a nested file", async () => {
    const dir = await fn("unresolved-rel", { "index.ts": "import { h } from \"./lib/h.ts\";\nexport default h;\n", "lib/h.ts": "\nexport { h } from \"./missing.ts\";\n" });
    const err = await buildError(dir);
    assert.equal(err.code, "FNRUN_BUILD_UNRESOLVED");
    assert.equal(err.file, path.join(dir, "lib/h.ts"));
    assert.equal(err.line, 2);
    assert.match(err.message, /Could not resolve "\.\/missing\.ts"/);
  });
});
