/**
 * `base = "REF"`: a function built FROM a Node image of a registry instead of fnrun's base.
 * The image here is made like a stock Node image — node on the PATH, its libraries, /etc,
 * the usual empty /proc /sys /dev /tmp, and nothing of fnrun's (no bootstrap, no /run/fnrun,
 * no /app) — pushed to a real registry on 127.0.0.1 and pulled with `fnrun pull --insecure`.
 * fnrun adds the bootstrap and the socket mount point, serves the function from it, and
 * starts it cold (a stem cell runs fnrun's base, not this one).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { ImageStore, baseLayout, pushImage } from "../../builder/index.ts";
import { ROOT, startDaemonProcess, type DaemonProcess } from "../helpers/daemon-process.ts";
import { tempDir } from "../builder/helpers.ts";
import { startRegistry, type RegistryServer } from "../builder/registry-server.ts";

const GOOD = path.join(ROOT, "test/fixtures/builder/good");
let registry: RegistryServer;
let d: DaemonProcess | undefined;
let tmp: { dir: string; cleanup: () => Promise<void> };
let ref: string;

before(async () => {
  tmp = await tempDir();
  registry = await startRegistry();
  const store = new ImageStore(path.join(tmp.dir, "s"));
  await store.init();
  const entries = (await baseLayout({ bootstrap: "" })).filter((e) => !/^\/(fnrun|run|app)(\/|$)/.test(e.path));
  await store.putImage("library/node:20", [{ entries, level: 1 }], { Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: ["node"] });
  ref = `${registry.host}/library/node:20`;
  await pushImage(store, "library/node:20", ref, { insecure: true });
  d = await startDaemonProcess(`[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 1\n[functions.good]\ndir = "${GOOD}"\nbase = "${ref}"\n`);
});
after(async () => {
  await d?.stop();
  if (d) await rm(d.dir, { recursive: true, force: true });
  await registry?.stop();
  await tmp?.cleanup();
});

describe("base = REF", () => {
  test("builds FROM the pulled Node image, adds the bootstrap, serves with a full cold start", async () => {
    // At start-up the base was neither in the store nor reachable over HTTPS: that deploy failed, loudly.
    assert.match(d!.log(), /deploy good failed: .*needs --insecure/);
    const pulled = await d!.cli(["pull", ref, "--insecure"]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const deployed = await d!.cli(["deploy", GOOD, "--json"]);
    assert.equal(deployed.code, 0, deployed.stderr);
    const [result] = JSON.parse(deployed.stdout) as Array<{ dockerfile: string }>;
    assert.equal(result.dockerfile.split("\n").filter((l) => /^(FROM|COPY|CMD)/.test(l)).join("\n"), [`FROM ${ref}`, "COPY fnrun /fnrun", "COPY run /run", "COPY index.mjs /app/index.mjs", 'CMD ["node", "/fnrun/bootstrap.mjs"]'].join("\n"));
    const res = await request(`${d!.url}/good?name=base`, { headersTimeout: 30_000 });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), "hello base from index.js");
    // The deploy started its instance cold (not from the stem cell, which runs fnrun's base).
    const ls = JSON.parse((await d!.cli(["ls", "--json"])).stdout) as { functions: Array<{ name: string; instances: { list: Array<{ kind: string }> } }> };
    assert.deepEqual(ls.functions.find((f) => f.name === "good")!.instances.list.map((i) => i.kind), ["cold"]);
    const ps = JSON.parse((await d!.cli(["ps", "--json"])).stdout) as Array<{ kind: string; function: string | null; image: string }>;
    assert.match(ps.find((c) => c.function === "good")!.image, /^fn\/good:[0-9a-f]{12}$/);
    assert.ok(ps.some((c) => c.kind === "stem" && c.image.startsWith("fnrun/base:")), "the stem cell is still there, unused");
    const images = JSON.parse((await d!.cli(["images", "--json"])).stdout) as Array<{ ref: string; functions: string[] }>;
    assert.deepEqual(images.find((i) => i.ref === ref)?.functions, []);
  });
});
