/**
 * bin/fnrun.mjs rebuilds dist/fnrun.js when a source is newer, in a node process of its own:
 * esbuild's JS API run inside the process that becomes the daemon left node's nextTick on V8's
 * generic path for that process's life in most daemons that built at start (bin/fnrun.mjs).
 * These tests run the real bin in a copy of the checkout (its node_modules linked), so that a
 * stale or broken source never touches this checkout's dist/.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

const ROOT = join(import.meta.dirname, "..", "..");
const COPIED = ["bin", "scripts", "cli", "gateway", "runtime", "builder", "package.json"];

/** A preload that says, as the process exits, whether esbuild's JS API was loaded in it. */
const PROBE = `process.on("exit", () => process.stderr.write("esbuild-in-process=" + Object.keys(require.cache).some((k) => k.includes("/node_modules/esbuild/")) + "\\n"));`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

describe("bin/fnrun.mjs builds a stale dist in a child process", { timeout: 120_000 }, () => {
  let copy: string;
  before(async () => {
    copy = await mkdtemp(join(tmpdir(), "fnrun-bin-"));
    for (const name of COPIED) await cp(join(ROOT, name), join(copy, name), { recursive: true });
    await symlink(join(ROOT, "node_modules"), join(copy, "node_modules"));
    await writeFile(join(copy, "probe.cjs"), PROBE);
  });
  after(() => rm(copy, { recursive: true, force: true }));

  const fnrun = async (...args: string[]): Promise<Ran> => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--require", join(copy, "probe.cjs"), join(copy, "bin", "fnrun.mjs"), ...args], { timeout: 60_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };

  test("no dist yet: it is built, the command runs, and esbuild never loads in the command's process", async () => {
    const r = await fnrun("--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: fnrun COMMAND/m);
    assert.match(r.stderr, /esbuild-in-process=false/);
    assert.match(await readFile(join(copy, "dist", "fnrun.js"), "utf8"), /\S/);
  });

  test("a source newer than dist is rebuilt into it; a fresh dist is not rebuilt", async () => {
    const marked = join(copy, "cli", "main.ts");
    await writeFile(marked, `${await readFile(marked, "utf8")}\n// rebuilt-marker-5e1f\n`);
    const later = new Date(Date.now() + 5_000);
    await utimes(marked, later, later);
    assert.equal((await fnrun("--help")).code, 0);
    const built = await readFile(join(copy, "dist", "fnrun.js.map"), "utf8");
    assert.match(built, /rebuilt-marker-5e1f/);
    const again = await fnrun("--help");
    assert.equal(again.code, 0);
    assert.match(again.stderr, /esbuild-in-process=false/);
  });

  test("a build removes the chunks of earlier builds once they are ten minutes old, and keeps its own and newer ones", async () => {
    const chunks = join(copy, "dist", "chunks");
    const stale = join(chunks, "daemon-OLDBUILD.js");
    const recent = join(chunks, "daemon-RECENTBL.js");
    await writeFile(stale, "// an earlier build's chunk\n");
    await writeFile(`${stale}.map`, "{}");
    await writeFile(recent, "// a chunk a running daemon of the build before may still import\n");
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(stale, hourAgo, hourAgo);
    await utimes(`${stale}.map`, hourAgo, hourAgo);
    const marked = join(copy, "cli", "main.ts");
    await writeFile(marked, `${await readFile(marked, "utf8")}\n// rebuilt-marker-9c2a\n`);
    const later = new Date(Date.now() + 8_000);
    await utimes(marked, later, later);
    const r = await fnrun("--help");
    assert.equal(r.code, 0, r.stderr);
    const left = await readdir(chunks);
    assert.ok(!left.includes("daemon-OLDBUILD.js") && !left.includes("daemon-OLDBUILD.js.map"), `stale chunk removed: ${left.join(" ")}`);
    assert.ok(left.includes("daemon-RECENTBL.js"), "a chunk younger than the grace period stays");
    // Every chunk the new entry imports is there.
    const entry = await readFile(join(copy, "dist", "fnrun.js"), "utf8");
    const imported = [...entry.matchAll(/"\.\/chunks\/([^"]+\.js)"/g)].map((m) => m[1]);
    assert.ok(imported.length > 0, "the entry imports chunks");
    for (const c of imported) assert.ok(left.includes(c), `${c} is present`);
  });

  test("a source that does not compile: exit 1 with a message that names the build, and esbuild's own error", async () => {
    const broken = join(copy, "cli", "main.ts");
    await writeFile(broken, `${await readFile(broken, "utf8")}\nexport const = ;\n`);
    const later = new Date(Date.now() + 10_000);
    await utimes(broken, later, later);
    const r = await fnrun("--help");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fnrun: building dist\/fnrun\.js from the sources failed \(exit code 1\); run `node scripts\/build\.mjs` to see why/);
    assert.match(r.stderr, /main\.ts/, "esbuild's error, naming the file, reaches the user");
    assert.doesNotMatch(r.stdout, /Usage:/);
  });
});
