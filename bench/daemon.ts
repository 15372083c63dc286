/**
 * @module bench/daemon
 * Runs the real daemon (`fnrun up`, the CLI in bin/fnrun.mjs) as a child process on a config
 * of the benchmark's own, in its own temp state dir, and reads what it is doing through its
 * control socket and its runc root. stop() ends it with SIGTERM (the daemon stops every
 * container); sweep() removes whatever a daemon that had to be killed left behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { removeCgroups } from "../runtime/cgroup.ts";
import { MIN_ENV, sh, sleep } from "./lib.ts";

export const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/fnrun.mjs");

/** A stem cell's container: the daemon names them `stem-<n>`, and instances `<function>-<n>`. */
export const isStemCell = (id: string): boolean => id.startsWith("stem-");

export interface FunctionStats {
  instances: number;
  busy: number;
  idle: number;
  starting: number;
  inflight: number;
  queued: number;
}

export interface DaemonProcess {
  name: string;
  dir: string;
  stateDir: string;
  controlSocket: string;
  url: string;
  /** Pid of the `fnrun up` child: the node process that runs the gateway (its CPU shows in /proc/<pid>/stat). */
  pid: number;
  /** ms from spawn to "gateway listening" (base image, deploys and min_instances included). */
  startupMs: number;
  log(): string;
  /** Per-function pool counters from GET /v1/functions (null: function not serving). */
  functions(): Promise<Map<string, FunctionStats | null>>;
  /** Ids of the containers in the daemon's runc root. */
  containers(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface StartDaemonOptions {
  /** How long to wait for "gateway listening" (default 150 s). */
  timeoutMs?: number;
  /** Node flags placed before the bin path, e.g. `["--cpu-prof", "--cpu-prof-dir=DIR"]`. */
  nodeArgs?: string[];
  /** Variables added to the minimal env the daemon gets. */
  env?: Record<string, string>;
}

/**
 * Writes `config` (TOML) to `<dir>/config.toml` and runs `fnrun up` on it; resolves when it serves.
 * The last argument is the options, or (as before) just the timeout in ms.
 */
export async function startDaemon(name: string, dir: string, config: string, opts: number | StartDaemonOptions = {}): Promise<DaemonProcess> {
  const { timeoutMs = 150_000, nodeArgs = [], env = {} } = typeof opts === "number" ? { timeoutMs: opts } : opts;
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, "config.toml");
  await writeFile(configPath, config);
  const stateDir = join(dir, ".fnrun");
  const controlSocket = join(stateDir, "fnrun.sock");
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, BIN, "up", "--config", configPath], { cwd: ROOT, env: { ...MIN_ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!done) {
      child.kill("SIGKILL");
      await exited;
    }
  };
  let url: string;
  try {
    url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon ${name}: not serving after ${timeoutMs} ms; its log:\n${log}`)), timeoutMs);
      const check = () => {
        const m = /gateway listening on (http:\/\/[^"\s]+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      };
      child.stderr!.on("data", check);
      child.stdout!.on("data", check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`daemon ${name}: fnrun up exited (${child.exitCode ?? child.signalCode}) before serving; its log:\n${log}`));
      });
    });
  } catch (err) {
    await stop();
    await sweep(stateDir);
    throw err;
  }
  const startupMs = performance.now() - t0;
  const failed = [...log.matchAll(/deploy (\S+) failed: ([^"]*)/g)].map((m) => `${m[1]}: ${m[2]}`);
  if (failed.length) {
    await stop();
    await sweep(stateDir);
    throw new Error(`daemon ${name}: deploys failed:\n${failed.join("\n")}`);
  }
  return {
    name,
    dir,
    stateDir,
    controlSocket,
    url,
    pid: child.pid!,
    startupMs,
    log: () => log,
    functions: async () => {
      const list = JSON.parse(await controlGet(controlSocket, "/v1/functions")) as Array<{ name: string; instances: FunctionStats | null }>;
      return new Map(list.map((f) => [f.name, f.instances]));
    },
    containers: () => runcList(stateDir),
    stop,
  };
}

function controlGet(socketPath: string, path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, path, method: "GET", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => (res.statusCode === 200 ? resolvePromise(body) : reject(new Error(`control API ${path}: ${res.statusCode} ${body}`))));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`control API ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

/** `runc --root <state>/runc list -q`: the container ids (empty when the root does not exist). */
export async function runcList(stateDir: string): Promise<string[]> {
  const out = await sh("runc", ["--root", join(stateDir, "runc"), "list", "-q"]).catch(() => "");
  return out.split("\n").map((s) => s.trim()).filter(Boolean);
}

/** The host pid of container `id`'s init (`runc state`), or null when runc does not know it. */
export async function containerPid(stateDir: string, id: string): Promise<number | null> {
  const out = await sh("runc", ["--root", join(stateDir, "runc"), "state", id]).catch(() => "");
  const pid = out ? (JSON.parse(out) as { pid?: number }).pid : undefined;
  return typeof pid === "number" && pid > 0 ? pid : null;
}

/**
 * Best effort, for a daemon that did not stop cleanly: deletes the containers left in its runc
 * root, their cgroups, and the rootfs bind mount the daemon made under /run/fnrun.
 * Returns how many containers it had to remove.
 */
export async function sweep(stateDir: string): Promise<number> {
  const ids = await runcList(stateDir);
  for (const id of ids) {
    await sh("runc", ["--root", join(stateDir, "runc"), "delete", "--force", id]).catch(() => {});
    await removeCgroups(id).catch(() => {});
  }
  // The same target runtime/rootfs-mount.ts computes for this state dir.
  const target = join("/run/fnrun", createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 16));
  for (let i = 0; i < 4; i++) {
    const mounts = await readFile("/proc/self/mountinfo", "utf8");
    if (!mounts.split("\n").some((l) => l.split(" ")[4] === target)) break;
    await sh("umount", [target]).catch(() => {});
  }
  return ids.length;
}
