/**
 * Faults of the platform, on the real daemon: a malformed config.toml (every error at once),
 * `fnrun reload` and SIGHUP of a bad config (the old one keeps serving) and of a good one,
 * redeploys under load (no failed request, old revisions drain), and a disk that fills up
 * during a deploy (a small tmpfs state dir: clear error, old revision serving, state readable).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { cli, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { leftovers } from "../helpers/leftovers.ts";
import { containersOf, FIX, get } from "./helpers.ts";

const run = promisify(execFile);

/** A function folder of our own (changed by the tests): answers its VERSION and env. */
async function versionedFunction(dir: string, version: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "index.ts"), `export default { async fetch() { return new Response("v${version} " + (process.env.COLOR ?? "-")); } };\n`);
}

describe("malformed config.toml", () => {
  test("fnrun up names every problem at once, by key, and exits 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fnrun-cfg-"));
    try {
      await writeFile(
        join(dir, "config.toml"),
        `[gateway]\nlisten = 8080\n[defaults]\nmemory = "-64MiB"\ntimeout = "0s"\n` +
          `[functions.a]\ndir = "${FIX}/good"\nroutes = ["GET /x"]\nenv = { "BAD=KEY" = "v", OK = "a\\u0000b" }\n` +
          `[functions.b]\ndir = "${FIX}/good"\nroutes = ["GET /x"]\npids = "many"\n`,
      );
      const r = await cli(["up", "--config", join(dir, "config.toml")], { timeoutMs: 30_000 });
      assert.equal(r.code, 1, r.stderr);
      for (const key of ["gateway.listen", "defaults.memory", "defaults.timeout", "functions.a.env", "functions.b.pids"]) {
        assert.match(r.stderr, new RegExp(key.replace(/\./g, "\\.")), `names ${key}:\n${r.stderr}`);
      }
      assert.match(r.stderr, /NUL/);
      assert.match(r.stderr, /GET \/x/, "the duplicate route is named");
      await writeFile(join(dir, "config.toml"), `[gateway\nlisten = "127.0.0.1:0"\n`);
      const syntax = await cli(["up", "--config", join(dir, "config.toml")], { timeoutMs: 30_000 });
      assert.equal(syntax.code, 1);
      assert.match(syntax.stderr, /config\.toml:1:\d+/, `a syntax error gives line and column:\n${syntax.stderr}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("reload and redeploys of a running daemon", { timeout: 600_000 }, () => {
  let d: DaemonProcess | undefined;
  after(async () => {
    await d?.stop("SIGTERM");
    if (d) await rm(d.dir, { recursive: true, force: true });
  });

  test("a bad config is refused by `fnrun reload` and SIGHUP, the old one keeps serving; a good one redeploys what changed", async () => {
    const work = await mkdtemp(join(tmpdir(), "fnrun-rl-"));
    const fn = join(work, "colors");
    await versionedFunction(fn, "1");
    const config = (color: string, extra = "") =>
      `[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 0\n[functions.colors]\ndir = "${fn}"\nenv = { COLOR = "${color}" }\n[functions.good]\ndir = "${FIX}/good"\n${extra}`;
    d = await startDaemonProcess(config("red"), { dir: work });
    assert.equal((await get(d, "/colors")).text, "v1 red");

    await writeFile(d.configPath, config("blue", `[functions.bad]\ndir = "${FIX}/good"\nmemory = "-1MiB"\ntimeout = 0\n`));
    const refused = await d.cli(["reload"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /reload refused, the daemon keeps its config/);
    assert.match(refused.stderr, /functions\.bad\.memory/);
    assert.match(refused.stderr, /functions\.bad\.timeout/);
    assert.equal((await get(d, "/colors")).text, "v1 red", "the old config keeps serving");
    process.kill(d.child.pid!, "SIGHUP");
    // The CLI's refused reload logged the same line: wait for the second one, or the SIGHUP reload may
    // still be running when the next config is written, and read that one instead.
    await until("the SIGHUP reload to be refused", async () => (d!.log().match(/reload refused, keeping the running config/g) ?? []).length >= 2);
    assert.equal((await get(d, "/colors")).text, "v1 red");
    assert.equal(d.child.exitCode, null, "the daemon lives");

    await writeFile(d.configPath, config("blue"));
    const ok = await d.cli(["reload"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /redeployed colors revision \w+/);
    assert.match(ok.stdout, /unchanged: good/);
    assert.equal((await get(d, "/colors")).text, "v1 blue");

    await writeFile(d.configPath, config("green"));
    process.kill(d.child.pid!, "SIGHUP");
    await until("SIGHUP to redeploy", async () => (await get(d!, "/colors")).text === "v1 green");
  });

  test("five redeploys under load: zero failed requests, the old revisions' instances drain and stop", async () => {
    assert.ok(d);
    const fn = join(d.dir, "colors");
    let failures = 0;
    let served = 0;
    const seen = new Set<string>();
    let stop = false;
    const load = async () => {
      while (!stop) {
        const r = await get(d!, "/colors");
        if (r.status === 200) {
          served++;
          seen.add(r.text.split(" ")[0]);
        } else failures++;
      }
    };
    const before = (await containersOf(d, "colors")).map((c) => c.id);
    const loads = [load(), load(), load(), load()];
    for (let v = 2; v <= 6; v++) {
      await versionedFunction(fn, String(v));
      const out = await d.cli(["deploy", fn]);
      assert.equal(out.code, 0, out.stderr);
    }
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loads);
    assert.equal(failures, 0, `failed requests (of ${served + failures})`);
    assert.ok(served > 20, `served ${served}`);
    assert.ok(seen.has("v6"), `revisions seen: ${[...seen].join(" ")}`);
    assert.equal((await get(d, "/colors")).text, "v6 green");
    await until("the old revisions' containers to stop", async () => {
      const now = (await containersOf(d!, "colors")).map((c) => c.id);
      return now.length === 1 && !before.includes(now[0]);
    });
  });
});

describe("disk full during a deploy (tmpfs state dir)", { timeout: 600_000 }, () => {
  let d: DaemonProcess | undefined;
  let mountPoint = "";
  let work = "";
  after(async () => {
    await d?.stop("SIGTERM");
    if (mountPoint) {
      // Whatever the daemon left mounted under the state dir goes first, then the tmpfs.
      const mounts = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").map((l) => l.split(" ")[4]).filter((m) => m?.startsWith(mountPoint + "/"));
      for (const m of mounts.reverse()) await run("umount", ["-l", m]).catch(() => {});
      await run("umount", [mountPoint]).catch(() => run("umount", ["-l", mountPoint]));
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("the deploy fails with a clear error, the previous revision keeps serving, the state stays readable", async () => {
    work = await mkdtemp(join(tmpdir(), "fnrun-df-"));
    mountPoint = join(work, "state");
    await mkdir(mountPoint);
    await run("mount", ["-t", "tmpfs", "-o", "size=512m,mode=0711", "tmpfs", mountPoint]);
    const fn = join(work, "disky");
    await versionedFunction(fn, "1");
    const config = `[gateway]\nlisten = "127.0.0.1:0"\n[daemon]\nstate_dir = "${mountPoint}"\n[pool]\nstem_cells = 0\n[functions.disky]\ndir = "${fn}"\n`;
    d = await startDaemonProcess(config, { dir: work });
    d.stateDir = mountPoint;
    assert.equal((await get(d, "/disky")).text, "v1 -");

    // Fill the state filesystem to the last block.
    const filler = join(mountPoint, "filler");
    const fh = await open(filler, "w");
    const chunk = Buffer.alloc(1024 * 1024, 1);
    try {
      for (;;) await fh.write(chunk);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
    }
    try {
      for (;;) await fh.write(chunk.subarray(0, 4096));
    } catch {}
    await fh.close();

    await versionedFunction(fn, "2");
    const out = await d.cli(["deploy", fn]);
    assert.equal(out.code, 1, out.stdout);
    assert.match(out.stderr, /deploy disky: .*(ENOSPC|no space left on device)/i, out.stderr);
    assert.equal((await get(d, "/disky")).text, "v1 -", "the previous revision keeps serving");
    const ls = await d.cli(["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^disky\s/m, "the state is readable");
    const record = JSON.parse(await readFile(join(mountPoint, "deployments.json"), "utf8"));
    assert.ok(JSON.stringify(record).includes("disky"), "deployments.json is intact");

    await rm(filler);
    const again = await d.cli(["deploy", fn]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await get(d, "/disky")).text, "v2 -", "with space again the deploy succeeds");
    await d.stop("SIGTERM");
    const left = await leftovers(mountPoint);
    assert.deepEqual(left.containers, []);
    d = undefined;
  });
});

