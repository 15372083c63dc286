/**
 * @module runtime/runc
 * A thin driver for the runc binary. Every call uses fnrun's own `--root` (never the
 * system's container state), a minimal environment (PATH only: the daemon's env may hold
 * secrets and runc passes nothing of it to containers anyway, but its children could) and
 * exactly the stdio descriptors given (Node marks its other fds close-on-exec).
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import type { Readable } from "node:stream";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError, runcFailed, runcMissing } from "./errors.ts";

/** The only environment runc gets. */
const RUNC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface RuncOptions {
  /** State directory of runc (`<state>/runc`). */
  root: string;
  /** The runc binary, looked up on PATH when not absolute. */
  binary?: string;
  /** Kill runc and fail when a command takes longer (ms). */
  timeoutMs?: number;
}

export interface ContainerState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped" | string;
  bundle?: string;
}

export interface UpdateResources {
  memoryBytes?: number;
  /** Share of cores, as in the spec's withCpuLimit. */
  cpu?: number;
  pids?: number;
}

interface RunResult {
  stdout: string;
  stderr: string;
  child: ChildProcess;
}

export class Runc {
  readonly root: string;
  readonly binary: string;
  readonly #timeoutMs: number;

  constructor(options: RuncOptions) {
    if (!options?.root) throw new TypeError("Runc: `root` is required");
    this.root = options.root;
    this.binary = options.binary ?? "runc";
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * `runc create`: sets the container up, its init waiting for `start`. The container's
   * stdout/stderr are `stdio.stdout`/`stdio.stderr` (they must be files: a pipe blocks the
   * function when nobody reads it, FACTS.md). runc's own log goes to a file in the bundle so
   * its error message can be reported. Returns the container's init pid (host view).
   */
  async create(id: string, bundleDir: string, stdio: { stdout: number; stderr: number }): Promise<number> {
    const log = join(bundleDir, "runc-create.log");
    const pidFile = join(bundleDir, "init.pid");
    try {
      await this.#run(
        "create",
        id,
        ["--log", log, "--log-format", "json", "create", "--bundle", bundleDir, "--pid-file", pidFile, id],
        ["ignore", stdio.stdout, stdio.stderr],
        log,
      );
      return Number((await readFile(pidFile, "utf8")).trim());
    } finally {
      await rm(log, { force: true });
    }
  }

  /**
   * `runc create` with the container's stdout and stderr on pipes the caller reads (the
   * daemon routes each line to the log of the function the instance serves at that moment,
   * which for a stem cell is known only later). The pipes end when the container does.
   */
  async createPiped(id: string, bundleDir: string): Promise<{ pid: number; stdout: Readable; stderr: Readable }> {
    const log = join(bundleDir, "runc-create.log");
    const pidFile = join(bundleDir, "init.pid");
    try {
      const { child } = await this.#run(
        "create",
        id,
        ["--log", log, "--log-format", "json", "create", "--bundle", bundleDir, "--pid-file", pidFile, id],
        ["ignore", "pipe", "pipe"],
        log,
        true,
      );
      return { pid: Number((await readFile(pidFile, "utf8")).trim()), stdout: child.stdout!, stderr: child.stderr! };
    } finally {
      await rm(log, { force: true });
    }
  }

  /** `runc start`: lets the created container's process exec. */
  async start(id: string): Promise<void> {
    await this.#run("start", id, ["start", id]);
  }

  /** `runc kill`: sends `signal` to the container's init (all processes die with it: pid namespace). */
  async kill(id: string, signal = "KILL"): Promise<void> {
    await this.#run("kill", id, ["kill", id, signal]);
  }

  /** `runc delete`: removes the container's state and cgroups; `force` kills it first. */
  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    await this.#run("delete", id, ["delete", ...(options.force ? ["--force"] : []), id]);
  }

  /** Every container in this root. */
  async list(): Promise<ContainerState[]> {
    const { stdout } = await this.#run("list", "*", ["list", "--format", "json"]);
    const parsed = JSON.parse(stdout.trim() || "null") as ContainerState[] | null;
    return (parsed ?? []).map((c) => ({ id: c.id, pid: c.pid, status: c.status, bundle: c.bundle }));
  }

  /** `runc state` of one container. */
  async state(id: string): Promise<ContainerState> {
    const { stdout } = await this.#run("state", id, ["state", id]);
    const c = JSON.parse(stdout) as ContainerState;
    return { id: c.id, pid: c.pid, status: c.status, bundle: c.bundle };
  }

  /** `runc update`: changes cgroup limits of a running container (~7 ms; cgroup.ts writes them in ~0.2 ms). */
  async update(id: string, r: UpdateResources): Promise<void> {
    const args = ["update"];
    if (r.memoryBytes !== undefined) args.push("--memory", String(r.memoryBytes), "--memory-swap", String(r.memoryBytes));
    if (r.cpu !== undefined) args.push("--cpu-period", "100000", "--cpu-quota", String(Math.max(1000, Math.round(r.cpu * 100_000))));
    if (r.pids !== undefined) args.push("--pids-limit", String(r.pids));
    await this.#run("update", id, [...args, id]);
  }

  #run(op: string, id: string, args: string[], stdio: StdioOptions = ["ignore", "pipe", "pipe"], jsonLog?: string, keepOutput = false): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      // JSON logs let us report runc's message without its `time=... level=error msg=` decoration.
      const argv = jsonLog ? ["--root", this.root, ...args] : ["--root", this.root, "--log-format", "json", ...args];
      const child = spawn(this.binary, argv, { env: { PATH: RUNC_PATH }, stdio });
      let stdout = "";
      let stderr = "";
      // With keepOutput the pipes are the container's (runc itself writes to its --log file).
      if (!keepOutput) {
        child.stdout?.setEncoding("utf8").on("data", (d: string) => { stdout += d; });
        child.stderr?.setEncoding("utf8").on("data", (d: string) => { stderr += d; });
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), this.#timeoutMs);
      child.on("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(err.code === "ENOENT" ? runcMissing(this.binary, err) : new RuntimeError("FNRUN_RUNC_FAILED", `runc ${op} \`${id}\`: ${err.message}`, { cause: err }));
      });
      // 'close' would wait for every holder of the pipes; after `create` the container's init
      // may hold inherited descriptors, so 'exit' is the end of runc itself.
      child.on("exit", async (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve({ stdout: keepOutput ? "" : await drained(child.stdout, () => stdout), stderr, child });
        const text = jsonLog ? await readJsonLog(jsonLog) : logMessages(await drained(child.stderr, () => stderr));
        reject(runcFailed(op, id, code, text, signal));
      });
    });
  }
}

/** Waits for a pipe to end (after 'exit' its last chunks may still be buffered), then reads the text. */
function drained(stream: NodeJS.ReadableStream | null | undefined, text: () => string): Promise<string> {
  if (!stream || (stream as unknown as { readableEnded: boolean }).readableEnded) return Promise.resolve(text());
  return new Promise((resolve) => {
    stream.once("end", () => resolve(text()));
    stream.once("close", () => resolve(text()));
  });
}

/** The messages of runc's JSON log (`{"level":"error","msg":...}` lines). */
async function readJsonLog(path: string): Promise<string> {
  return logMessages(await readFile(path, "utf8").catch(() => ""));
}

function logMessages(raw: string): string {
  return raw
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      try {
        const { level, msg } = JSON.parse(line) as { level?: string; msg?: string };
        return level === "error" || level === "fatal" || level === "warning" ? msg ?? line : "";
      } catch {
        return line;
      }
    })
    .filter(Boolean)
    .join("\n");
}
