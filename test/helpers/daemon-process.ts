/**
 * @module test/helpers/daemon-process
 * Runs the real `fnrun` CLI: `fnrun up` as a child process on a temp config, and any other
 * command against it. Everything it starts is stopped by stop() (called from after()).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { after } from "node:test";
import { removeEmptyParents } from "../../runtime/cgroup.ts";
import { cleanupOrphans } from "../../runtime/orphans.ts";
import { RootfsMount } from "../../runtime/rootfs-mount.ts";
import { Runc } from "../../runtime/runc.ts";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");

/**
 * What this file's daemons may leave when a test kills one with SIGKILL on purpose and
 * fails before a second `fnrun up` cleans up: every test file that uses this helper gets,
 * after all its tests, its daemons killed and their containers, cgroups, rootfs mount and
 * temp folders removed.
 */
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await Promise.all([...children].map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : null)));
  for (const dir of tempDirs) {
    const stateDir = join(dir, ".fnrun");
    await cleanupOrphans(stateDir, new Runc({ root: join(stateDir, "runc") })).catch(() => {});
    await RootfsMount.release(stateDir).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
  await removeEmptyParents();
});
const BIN = join(ROOT, "bin/fnrun.mjs");
/**
 * Children get a minimal env: nothing of the test runner's (NODE_EXTRA_CA_CERTS and the like)
 * but DOCKER_HOST, the engine `npm test` started for this run (scripts/test.sh), which a daemon
 * with `[build] engine = "docker"` must reach.
 */
export const MIN_ENV: Record<string, string> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
};

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `fnrun ...args` to completion. */
export function cli(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: MIN_ENV, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

export interface DaemonProcess {
  dir: string;
  configPath: string;
  stateDir: string;
  url: string;
  child: ChildProcess;
  /** What the daemon wrote to stderr so far (its JSON log). */
  log(): string;
  cli(args: string[], opts?: { input?: string }): Promise<CliResult>;
  /** Sends `signal` and waits for the exit; returns the exit code or signal. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Writes `config` (TOML) into a temp dir and runs `fnrun up` on it; resolves when it serves. */
export async function startDaemonProcess(config: string, opts: { dir?: string; timeoutMs?: number } = {}): Promise<DaemonProcess> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "fnrun-e2e-")));
  tempDirs.add(dir);
  const configPath = join(dir, "config.toml");
  await writeFile(configPath, config);
  const child = spawn(process.execPath, [BIN, "up", "--config", configPath], { cwd: ROOT, env: MIN_ENV, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  child.stdout!.on("data", (d) => (log += d));
  const exited = new Promise<number | string>((r) => child.once("exit", (code, sig) => r(code ?? sig ?? -1)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`fnrun up did not start within ${opts.timeoutMs ?? 120_000} ms:\n${log}`)), opts.timeoutMs ?? 120_000);
    const check = () => {
      const m = /gateway listening on (http:\/\/[^"\s]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stderr!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`fnrun up exited (${code}) before serving:\n${log}`));
    });
  });
  return {
    dir,
    configPath,
    stateDir: join(dir, ".fnrun"),
    url,
    child,
    log: () => log,
    cli: (args, o) => cli([...args, "--config", configPath], o),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A JSON request to the daemon's control API over its unix socket. */
export async function control<T = any>(d: DaemonProcess, method: string, path: string): Promise<T> {
  const { Agent, request } = await import("undici");
  const agent = new Agent({ connect: { socketPath: join(d.stateDir, "fnrun.sock") } });
  try {
    const res = await request(`http://fnrun${path}`, { method: method as "GET", dispatcher: agent });
    return (await res.body.json()) as T;
  } finally {
    await agent.close();
  }
}

/** Polls `check` every 25 ms until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
