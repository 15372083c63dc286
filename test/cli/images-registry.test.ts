/**
 * Images end to end, through the real CLI and daemon: build and push from one daemon to a
 * real registry (docker-registry on 127.0.0.1), deploy from that registry on a second daemon
 * with a clean state directory, serve requests from it, survive a restart, list, save and
 * prune images.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { ROOT, startDaemonProcess, type DaemonProcess } from "../helpers/daemon-process.ts";
import { run } from "../builder/helpers.ts";
import { startRegistry, type RegistryServer } from "../builder/registry-server.ts";

const GOOD = join(ROOT, "test/fixtures/builder/good");
const POOL = `[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 1\n`;

let registry: RegistryServer;
let a: DaemonProcess | undefined;
let b: DaemonProcess | undefined;

before(async () => {
  registry = await startRegistry();
  a = await startDaemonProcess(`${POOL}\n[functions.good]\ndir = "${GOOD}"\n`);
});
after(async () => {
  await a?.stop();
  await b?.stop();
  await registry?.stop();
  // State dirs hold images (~100 MB each): removed, not left in /tmp.
  for (const d of [a, b]) if (d) await rm(d.dir, { recursive: true, force: true });
});

async function get(d: DaemonProcess, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${d.url}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe("images through a registry", () => {
  test("push, then deploy --image on a clean daemon, serve, restart, list, save, prune", async () => {
    const ref = `${registry.host}/team/good:v1`;
    const pushed = ok(await a!.cli(["push", "good", ref, "--insecure"]), "push");
    assert.match(pushed, new RegExp(`^pushed good to ${ref.replace(/\./g, "\\.")} \\(sha256:[0-9a-f]{64}\\): 3 blobs sent`));

    const listed = ok(await a!.cli(["images"]), "images");
    assert.match(listed, /^fn\/good:[0-9a-f]{12} +[0-9a-f]{12} +[\d.]+ MiB +good$/m);
    assert.match(listed, /^fnrun\/base:node-\S+ +[0-9a-f]{12} +[\d.]+ MiB +\(stem cells\)$/m);

    b = await startDaemonProcess(POOL);
    const deployed = ok(await b.cli(["deploy", "--image", ref, "--insecure", "--name", "greeter"]), "deploy --image");
    assert.match(deployed, /^deployed greeter revision [0-9a-f]{12} from .* \(pull \d+ ms, start \d+ ms\) → \/greeter, \/greeter\/\*$/m);
    assert.deepEqual(await get(b, "/greeter?name=registry"), { status: 200, body: "hello registry from index.js" });

    // The second daemon had no such image: it came from the registry, verified.
    const bImages = ok(await b.cli(["images", "--json"]), "images --json");
    const pulled = (JSON.parse(bImages) as Array<{ ref: string; functions: string[] }>).find((i) => i.ref === ref);
    assert.deepEqual(pulled?.functions, ["greeter"]);

    // A restart serves it again, from the store, without the registry.
    await b.stop();
    b = await startDaemonProcess(POOL, { dir: b.dir });
    assert.deepEqual(await get(b, "/greeter?name=again"), { status: 200, body: "hello again from index.js" });
    // A secret set on it redeploys the same image (not a folder it never had).
    ok(await b.cli(["secret", "set", "greeter", "API_TOKEN"], { input: "s3cret\n" }), "secret set");
    assert.deepEqual(await get(b, "/greeter?name=secret"), { status: 200, body: "hello secret from index.js" });

    const file = join(a!.dir, "good.tar");
    ok(await a!.cli(["image", "save", "good", "-o", file]), "image save");
    const { stdout } = await run("skopeo", ["inspect", "--config", "--raw", `docker-archive:${file}`]);
    assert.ok((JSON.parse(stdout) as { config: { Env: string[] } }).config.Env.includes("FNRUN_ENTRY=/app/index.mjs"));

    // Prune on b: the pulled image serves greeter and the base feeds the stem cells: nothing goes.
    const before = await readdir(join(b.stateDir, "images/blobs/sha256"));
    const pruned = ok(await b.cli(["images", "prune", "--revisions"]), "images prune");
    assert.match(pruned, /^removed 0 blobs/);
    assert.deepEqual(await readdir(join(b.stateDir, "images/blobs/sha256")), before);
    assert.deepEqual(await get(b, "/greeter?name=pruned"), { status: 200, body: "hello pruned from index.js" });
  });

  test("pull of an image the registry does not have fails with the request and the answer", async () => {
    const r = await a!.cli(["pull", `${registry.host}/team/none:v1`, "--insecure"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fnrun: GET \/v2\/team\/none\/manifests\/v1 at `127\.0\.0\.1:\d+`: not found/);
  });
});
