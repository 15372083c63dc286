/**
 * `fnrun dev` and `fnrun deploy` progress, on a real daemon: a save redeploys, a save that
 * breaks the build prints the error with file and line while the last good revision keeps
 * serving; deploy prints each step (bundle, image, start) with its time.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { MIN_ENV, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";

const CONFIG = `
[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 1

[defaults]
memory = "96MiB"
`;

const source = (word: string) => `export default function devfn(request) {\n  return new Response("${word}\\n");\n}\n`;

async function get(d: DaemonProcess, path: string) {
  const res = await request(`${d.url}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

describe("fnrun dev and deploy progress", { timeout: 600_000 }, () => {
  let d: DaemonProcess;
  let fns: string;

  before(async () => {
    d = await startDaemonProcess(CONFIG);
    fns = await mkdtemp(join(tmpdir(), "fnrun-dev-"));
    await mkdir(join(fns, "devfn"));
    await writeFile(join(fns, "devfn", "index.mjs"), source("first"));
  });
  after(async () => {
    await d?.stop("SIGTERM");
    if (d) await rm(d.dir, { recursive: true, force: true }); // its state dir holds images
    if (fns) await rm(fns, { recursive: true, force: true });
  });

  test("fnrun deploy prints each step with its time (plain lines when not on a terminal), --json only JSON", async () => {
    const out = await d.cli(["deploy", join(fns, "devfn")]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^devfn: bundle done in \d+ ms$/m);
    assert.match(out.stdout, /^devfn: image done in [\d.]+ (ms|s)$/m);
    assert.match(out.stdout, /^devfn: start done in [\d.]+ (ms|s)$/m);
    assert.match(out.stdout, /^deployed devfn revision \w+ \(bundle \d+ ms, image [\d.]+ m?s, start [\d.]+ m?s\) → \/devfn, \/devfn\/\*$/m);
    assert.doesNotMatch(out.stdout, /\x1b/, "no terminal escapes when stdout is not a terminal");
    const json = await d.cli(["deploy", join(fns, "devfn"), "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as Array<{ name: string; revision: string }>;
    assert.equal(parsed[0].name, "devfn");
  });

  test("a save redeploys; a broken save prints file and line and the last good revision keeps serving", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin/fnrun.mjs"), "dev", fns, "--config", d.configPath], { cwd: ROOT, env: MIN_ENV, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    try {
      await until("dev watching", async () => out.includes("watching 1 function folder"), 60_000);
      assert.match(out, /GET \/devfn → 200 first/);

      await writeFile(join(fns, "devfn", "index.mjs"), source("second"));
      await until("redeploy after a save", async () => /GET \/devfn → 200 second/.test(out), 60_000);
      assert.match(out, /index\.mjs saved: deploying devfn/);
      assert.equal((await get(d, "/devfn")).text, "second\n");

      const before = out.length;
      await writeFile(join(fns, "devfn", "index.mjs"), `export default function devfn(request) {\n  return new Response("oops";\n}\n`);
      await until("the build error", async () => /last good revision keeps serving/.test(out.slice(before)), 60_000);
      const failure = out.slice(before);
      assert.match(failure, /fnrun: deploy devfn: .*index\.mjs:2:\d+/, failure);
      assert.equal((await get(d, "/devfn")).text, "second\n", "the last good revision still serves");

      await writeFile(join(fns, "devfn", "index.mjs"), source("third"));
      await until("recovery", async () => /GET \/devfn → 200 third/.test(out), 60_000);
    } finally {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
  });
});
