/**
 * Real npm packages through a real daemon (`fnrun up`, runc containers, HTTP on 127.0.0.1):
 * better-sqlite3 answering with the rows it queried, from a stem cell (its addon mapped from the
 * read-only, executable code dir) and cold from its own image; figlet and mime (CommonJS, fs/path, __dirname), figlet's files placed into a
 * stem cell; sharp with its prebuilt binary and libvips; a CommonJS function folder; a
 * function with its own require/__dirname shims. A redeploy whose addon is built for another
 * Node fails the build, and the revision that was serving keeps serving.
 */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { placeBundle } from "../../runtime/stem-cell.ts";
import { control, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { NATIVE, SQLITE_NODE, patchAbi } from "./native-helpers.ts";

interface FnInfo {
  name: string;
  revision: string;
  instances: { instances: number } | null;
}

async function get(d: DaemonProcess, path: string) {
  const res = await request(`${d.url}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  const timing = /start;dur=([\d.]+)/.exec(String(res.headers["server-timing"]))?.[1];
  return { status: res.statusCode, start: res.headers["x-fnrun-start"], timing: `${timing} ms`, text: await res.body.text() };
}

async function fn(d: DaemonProcess, name: string): Promise<FnInfo> {
  const found = (await control<FnInfo[]>(d, "GET", "/v1/functions")).find((f) => f.name === name);
  assert.ok(found, `function ${name} is listed`);
  return found;
}

const ROWS = { rows: [{ id: 1, name: "ada" }, { id: 2, name: "grace" }] };

describe("npm packages with native code, served by a real daemon", { timeout: 600_000 }, () => {
  let d: DaemonProcess;
  let work: string;
  let sqlite: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "fnrun-native-"));
    sqlite = join(work, "sqlite");
    // A copy the last test may break; its node_modules comes along (real files, no links).
    await cp(join(NATIVE, "sqlite"), sqlite, { recursive: true });
    d = await startDaemonProcess(`
[gateway]
listen = "127.0.0.1:0"
[pool]
stem_cells = 1
idle_timeout = "1s"
[functions.sqlite]
dir = "${sqlite}"
[functions.sqlcold]
dir = "${sqlite}" # the same folder as sqlite: two functions may share one
tmp = "8MiB" # not the defaults' /tmp size, so never from a stem cell: always cold
[functions.figlet]
dir = "${NATIVE}/cjs-packages"
[functions.figcold]
dir = "${NATIVE}/cjs-packages"
tmp = "8MiB" # not the defaults' /tmp size, so never from a stem cell: always cold, for comparison
[functions.sharp]
dir = "${NATIVE}/sharp"
memory = "256MiB"
[functions.cjsfn]
dir = "${NATIVE}/cjs-function"
[functions.shims]
dir = "${NATIVE}/shims"
`, { timeoutMs: 300_000 });
  });
  after(async () => {
    await d?.stop("SIGTERM");
    await rm(work, { recursive: true, force: true });
  });

  test("better-sqlite3 answers with the rows it inserted and queried, from a stem cell and cold from its own image", async () => {
    await until("sqlite to scale to zero and a stem cell to be ready", async () => {
      const [f, pool] = await Promise.all([fn(d, "sqlite"), control(d, "GET", "/v1/pool")]);
      return f.instances?.instances === 0 && pool.stemCells.ready === 1;
    }, 60_000);
    const res = await get(d, "/sqlite?names=ada,grace");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.start, "stem", "the addon is mapped from the stem's code dir");
    const body = JSON.parse(res.text);
    assert.deepEqual(body.rows, ROWS.rows);
    assert.match(body.sqlite, /^3\.\d+\.\d+$/);
    await until("sqlcold to scale to zero", async () => (await fn(d, "sqlcold")).instances?.instances === 0, 60_000);
    const cold = await get(d, "/sqlcold?names=ada,grace");
    assert.equal(cold.status, 200, cold.text);
    assert.equal(cold.start, "cold");
    assert.deepEqual(JSON.parse(cold.text), body, "the same folder deployed as a second function answers alike");
  });

  test("figlet reads its fonts from node_modules beside the bundle, placed into a stem cell, and bundled mime requires fs and path", async (t) => {
    await until("figlet to scale to zero and a stem cell to be ready", async () => {
      const [f, pool] = await Promise.all([fn(d, "figlet"), control(d, "GET", "/v1/pool")]);
      return f.instances?.instances === 0 && pool.stemCells.ready === 1;
    }, 60_000);
    const res = await get(d, "/figlet");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.start, "stem", "pure JavaScript node_modules go to the stem's code dir");
    await until("figcold to scale to zero", async () => (await fn(d, "figcold")).instances?.instances === 0, 60_000);
    const cold = await get(d, "/figcold");
    assert.equal(cold.status, 200, cold.text);
    assert.equal(cold.start, "cold");
    assert.deepEqual(JSON.parse(cold.text), JSON.parse(res.text));
    t.diagnostic(`figlet start: ${res.timing} from a stem cell (617 files placed), ${cold.timing} cold`);
    const body = JSON.parse(res.text);
    assert.equal(body.type, "application/json");
    assert.match(body.banner, /\|_\| \|_\|/);
  });

  test("sharp (N-API, binary and libvips in optional dependencies, libvips needing glibc's libresolv) makes and resizes a PNG", async () => {
    const res = await get(d, "/sharp");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), { png: "PNG", width: 3, height: 2, pixel: [200, 30, 30] });
  });

  test("a CommonJS function folder with module.exports answers, with __dirname the bundle's folder", async () => {
    const res = await get(d, "/cjsfn?file=photo.png");
    assert.equal(res.status, 200, res.text);
    // /app from its image, /run/fnrun-code from a stem cell: the folder the bundle was loaded from.
    const where = res.start === "stem" ? "/run/fnrun-code" : "/app";
    assert.deepEqual(JSON.parse(res.text), { type: "image/png", dirname: where, filename: "index.mjs", eol: JSON.stringify("\n") });
  });

  test("a function with its own top-level require and __dirname answers, and bundled CommonJS gets fnrun's", async () => {
    // Served from a stem cell or its image: /run/fnrun-code or /app, the same for both.
    const res = await get(d, "/shims");
    assert.equal(res.status, 200, res.text);
    const body = JSON.parse(res.text);
    const where = body.user.dirname;
    assert.ok(where === "/app" || where === "/run/fnrun-code", where);
    assert.deepEqual(body, { user: { dirname: where, filename: `${where}/index.mjs`, hostnameType: "string" }, helper: { dirname: where, filename: "index.mjs", sep: "/" } });
  });

  test("placing a node_modules tree into a stem's code dir hard-links every file (timed for figlet's and better-sqlite3's)", async (t) => {
    for (const [pkg, probe] of [["figlet", "fonts/Standard.flf"], ["better-sqlite3", "build/Release/better_sqlite3.node"]]) {
      // What specialize() places: the image's unpacked app/ (the daemon's bundlePath is its index.mjs).
      const app = await findApp(join(d.stateDir, "rootfs"), pkg);
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const code = join(d.stateDir, `code-probe-${i}`); // the state dir's filesystem, as an instance dir's
        await mkdir(code);
        const t0 = performance.now();
        assert.equal(await placeBundle(join(app, "index.mjs"), code), "link");
        times.push(performance.now() - t0);
        const placed = await stat(join(code, "node_modules", pkg, probe));
        assert.equal(placed.ino, (await stat(join(app, "node_modules", pkg, probe))).ino, "a hard link, not a copy");
        await rm(code, { recursive: true });
      }
      times.sort((a, b) => a - b);
      t.diagnostic(`placing index.mjs + node_modules of ${pkg} (${await countFiles(join(app, "node_modules"))} files): median ${times[2].toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[4].toFixed(1)})`);
    }
  });

  test("a redeploy with an addon built for another Node fails its build, and the serving revision keeps serving", async () => {
    const before = await fn(d, "sqlite");
    await patchAbi(SQLITE_NODE, join(sqlite, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"), 108);
    const out = await d.cli(["deploy", sqlite]);
    assert.equal(out.code, 1, out.stdout + out.stderr);
    assert.match(out.stderr, /better-sqlite3: node_modules\/better-sqlite3\/build\/Release\/better_sqlite3\.node is built for Node 18 \(NODE_MODULE_VERSION 108\), the image runs Node 20/);
    assert.match(out.stderr, /npm rebuild better-sqlite3/);
    assert.equal((await fn(d, "sqlite")).revision, before.revision, "nothing was deployed");
    const res = await get(d, "/sqlite?names=ada,grace");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text).rows, ROWS.rows);
  });
});

async function findApp(rootfsDir: string, pkg: string): Promise<string> {
  for (const name of await readdir(rootfsDir)) {
    const app = join(rootfsDir, name, "app");
    if (await stat(join(app, "node_modules", pkg)).then(() => true, () => false)) return app;
  }
  throw new Error(`no unpacked rootfs with app/node_modules/${pkg} under ${rootfsDir}`);
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) n += e.isDirectory() ? await countFiles(join(dir, e.name)) : 1;
  return n;
}
