/**
 * `fnrun run` and `fnrun ps` through the real CLI and daemon: a plain (non-function) image
 * made here — node and its libraries, no bootstrap, no FNRUN_ENTRY — pushed to a real
 * registry on 127.0.0.1, pulled by `fnrun run`, run as a one-off container with its own
 * limits, output streamed back, exit code passed on; `fnrun ps` lists it beside the stem cell
 * with the limits the kernel enforces.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { ImageStore, baseLayout, pushImage } from "../../builder/index.ts";
import { ROOT, cli, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";
import { run, tempDir } from "../builder/helpers.ts";
import { startRegistry, type RegistryServer } from "../builder/registry-server.ts";

let registry: RegistryServer;
let d: DaemonProcess | undefined;
let tmp: { dir: string; cleanup: () => Promise<void> };
let ref: string;
/** The daemon's dir (its state dir holds images): removed in after(). */
let daemonDir: string | undefined;

before(async () => {
  tmp = await tempDir();
  registry = await startRegistry();
  // A plain image: the base layout's files (node, libs, /etc/passwd, mount points), a Cmd of its own.
  const store = new ImageStore(path.join(tmp.dir, "s"));
  await store.init();
  const entries = (await baseLayout({ bootstrap: "" })).filter((e) => !e.path.startsWith("/fnrun"));
  await store.putImage("plain/node:1", [{ entries, level: 1 }], { User: "65534:65534", WorkingDir: "/", Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: ["/usr/local/bin/node", "-e", "console.log('default cmd as ' + process.getuid())"] });
  ref = `${registry.host}/plain/node:1`;
  await pushImage(store, "plain/node:1", ref, { insecure: true });
  d = await startDaemonProcess(`[gateway]\nlisten = "127.0.0.1:0"\n[pool]\nstem_cells = 1\n`);
  daemonDir = d.dir;
});
after(async () => {
  await d?.stop();
  if (daemonDir) await rm(daemonDir, { recursive: true, force: true });
  await registry?.stop();
  await tmp?.cleanup();
});

describe("fnrun run and fnrun ps", () => {
  test("pulls a plain image from the registry and runs its Cmd", async () => {
    const r = await d!.cli(["run", ref, "--insecure"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "default cmd as 65534\n");
  });

  test("runs a command given after --, streams stdout and stderr apart, exits with its code", async () => {
    const r = await cli(["run", ref, "--config", d!.configPath, "--", "/usr/local/bin/node", "-e", "console.log('out'); console.error('err'); process.exit(7)"]);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });

  test("is isolated like a function: no network but loopback, read-only rootfs, no capabilities", async () => {
    const script = [
      "const os = require('node:os'); const fs = require('node:fs');",
      "const ifs = Object.keys(os.networkInterfaces());",
      "let rootWritable = true; try { fs.writeFileSync('/x', '1'); } catch { rootWritable = false; }",
      "const caps = fs.readFileSync('/proc/self/status', 'utf8').match(/CapEff:\\s*(\\w+)/)[1];",
      "fs.writeFileSync('/tmp/ok', 'tmp is writable');",
      "console.log(JSON.stringify({ ifs, rootWritable, caps, tmp: fs.readFileSync('/tmp/ok', 'utf8') }));",
    ].join(" ");
    const r = await cli(["run", ref, "--config", d!.configPath, "--", "/usr/local/bin/node", "-e", script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ifs: ["lo"], rootWritable: false, caps: "0000000000000000", tmp: "tmp is writable" });
  });

  test("fnrun ps lists the one-off with its kernel limits, beside the stem cell", async () => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/fnrun.mjs"), "run", ref, "--memory", "48MiB", "--cpus", "0.25", "--config", d!.configPath, "--", "/usr/local/bin/node", "-e", "setTimeout(() => console.log('done'), 4000)"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    const exited = new Promise<number>((r) => child.once("close", (code) => r(code ?? -1)));
    try {
      const listed = await until("the one-off in fnrun ps", async () => {
        const r = await d!.cli(["ps", "--json"]);
        const all = JSON.parse(r.stdout) as Array<{ kind: string; image: string; state: string; limits: { memoryBytes: number; cpu: number; pids: number } }>;
        // runc create comes before runc start: a one-off listed as "created" is on its way up.
        return all.some((c) => c.kind === "one-off" && c.state === "running") && all.some((c) => c.kind === "stem") ? all : null;
      });
      const oneOff = listed.find((c) => c.kind === "one-off")!;
      assert.equal(oneOff.image, ref);
      assert.equal(oneOff.state, "running");
      assert.deepEqual(oneOff.limits, { memoryBytes: 48 * 2 ** 20, cpu: 0.25, pids: 64 });
      const stem = listed.find((c) => c.kind === "stem")!;
      assert.match(stem.image, /^fnrun\/base:node-/);
      const table = (await d!.cli(["ps"])).stdout;
      assert.match(table, /^CONTAINER +KIND +FUNCTION +IMAGE +STATE +LIMITS$/m);
      assert.match(table, /^run-\S+ +one-off +- +\S+plain\/node:1 +running +48 MiB, 0\.25 cpu, 64 pids$/m);
    } finally {
      assert.equal(await exited, 0);
    }
    assert.equal(out, "done\n");
    // gone from ps once it ended
    const after = JSON.parse((await d!.cli(["ps", "--json"])).stdout) as Array<{ kind: string }>;
    assert.ok(!after.some((c) => c.kind === "one-off"));
  });

  test("Ctrl-C on fnrun run stops the container", async () => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/fnrun.mjs"), "run", ref, "--config", d!.configPath, "--", "/usr/local/bin/node", "-e", "console.log('up'); setInterval(() => {}, 1000)"], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | string>((r) => child.once("close", (code, sig) => r(code ?? sig ?? -1)));
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    const running = JSON.parse((await d!.cli(["ps", "--json"])).stdout) as Array<{ kind: string }>;
    assert.equal(running.filter((c) => c.kind === "one-off").length, 1);
    child.kill("SIGINT");
    await exited;
    await until("the one-off gone from fnrun ps", async () => {
      const all = JSON.parse((await d!.cli(["ps", "--json"])).stdout) as Array<{ kind: string }>;
      return !all.some((c) => c.kind === "one-off");
    }, 10_000);
  });

  test("stopping the daemon stops a running one-off", async () => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/fnrun.mjs"), "run", ref, "--config", d!.configPath, "--", "/usr/local/bin/node", "-e", "console.log('up'); setInterval(() => {}, 1000)"], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | string>((r) => child.once("close", (code, sig) => r(code ?? sig ?? -1)));
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    const runcRoot = path.join(d!.stateDir, "runc");
    assert.equal(await d!.stop(), 0);
    d = undefined;
    await exited;
    const { stdout } = await run("runc", ["--root", runcRoot, "list", "--format", "json"]);
    assert.deepEqual(JSON.parse(stdout.trim() || "null") ?? [], [], "no container left in the daemon's runc root");
  });
});
