/**
 * @module runtime/instance
 * One running container of a function: born from an OCI bundle in
 * `<state>/instances/<id>/`, reachable over `<that dir>/sock/fn.sock`, killed by stop().
 * A stem cell is one started from the base image with no function; specialize() makes it
 * one function's, once and for good (the steps are in stem-cell.ts).
 */
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { access, chown, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Pool } from "undici";
import { SOCKET_DIR_IN_IMAGE } from "../builder/base-layout.ts";
import { cgroupsPathFor, killCgroupProcs, removeCgroups } from "./cgroup.ts";
import { trackContainer, untrackContainer } from "./live-containers.ts";
import { RuntimeError, lastLines } from "./errors.ts";
import type { Runc } from "./runc.ts";
import { OutputReader, type OutputSink } from "./instance-output.ts";
import { oomKills } from "./oom.ts";
import { LOAD_PATH } from "./bootstrap/reserved-paths.ts";
import {
  applyLimits, CODE_DIR_IN_IMAGE, placeBundle, sendLoad, STEM_ENTRY,
  type FunctionRef, type SpecializeOptions, type SpecializeTimings,
} from "./stem-cell.ts";
import {
  generateSpec, withBindMount, withCgroupsPath, withCodeMount, withCpuLimit, withHostname, withMaskedPaths, withMemoryLimit,
  withNamespaces, withNoCapabilities, withNoNewPrivileges, withPidsLimit, withProcess, withReadonlyPaths,
  withRlimitNofile, withRootfs, withSeccomp, withTmpfs, withUser, withUserNamespace, type Spec, type SpecOpt,
} from "./spec.ts";
import { resolveUser } from "./user.ts";

export { cleanupOrphans } from "./orphans.ts";
export type { FunctionRef, SpecializeOptions, SpecializeTimings } from "./stem-cell.ts";

/** Container ids 0..65535 map to host ids 100000..165535 (the usual subuid range of one user). */
export const HOST_ID_BASE = 100_000;
export const ID_MAP_SIZE = 65_536;
/** File name of the bootstrap's socket inside the socket dir. */
export const SOCKET_NAME = "fn.sock";
/** What the bootstrap writes beside its socket when the function failed to import (runtime/bootstrap/listener.ts). */
export const INIT_ERROR_NAME = "fn.init-error";

export interface InstanceLimits {
  memoryBytes: number;
  /** Share of one core, e.g. 0.5. */
  cpu: number;
  pids: number;
  /** Size of the /tmp tmpfs. */
  tmpBytes: number;
}

export interface ImageConfig {
  Cmd: string[];
  Env: string[];
  User: string;
  WorkingDir: string;
}

export interface InstanceOptions {
  /** Container id, short [a-z0-9-], e.g. "hello-k3x9". */
  id: string;
  stateDir: string;
  /** Read-only rootfs shared by all containers of an image. */
  rootfs: string;
  image: ImageConfig;
  /** The function's env from config: set in the process env and listed in FNRUN_ENV_KEYS. Empty for a stem cell. */
  env: Record<string, string>;
  limits: InstanceLimits;
  /**
   * Where the container's stdout and stderr go: `output`, a sink fed line by line from pipes
   * and told which function each line belongs to (what the daemon uses: a stem cell's
   * function is known only later), or `logFile`, opened O_APPEND and given to the container.
   */
  output?: OutputSink;
  logFile?: string;
  runc: Runc;
  readyTimeoutMs?: number;
  /** Connections of the dispatcher (requests in flight to this instance). */
  connections?: number;
  /**
   * A stem cell: `rootfs`/`image` are the base image's, FNRUN_ENTRY is dropped, `env` must be
   * empty (whatever it held would leak into the function it becomes), and `<dir>/code/` is
   * bind-mounted read-only at /run/fnrun-code for specialize() to put the bundle in.
   */
  stem?: boolean;
  /**
   * The container runs fnrun's bootstrap (the default): start() checks whether the bundle
   * loaded (the file it writes beside its socket when not) and opens a stem cell's connections.
   * False for any other server (the benchmark's plain node:http floor).
   */
  bootstrap?: boolean;
  /** The function a full cold start serves (reported by `instance.function`); ignored for a stem cell. */
  function?: FunctionRef;
}

/**
 * "stem": a stem cell waiting; "specializing": specialize() running; "ready": serving its
 * function; "broken": a specialize() failed, stop() it.
 */
export type InstancePhase = "stem" | "specializing" | "ready" | "broken";

const ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** How long the host keeps an idle connection to an instance (the bootstrap closes none itself). */
const IDLE_CONNECTION_MS = 30 * 60_000;

export class Instance {
  readonly id: string;
  readonly pid: number;
  readonly socketPath: string;
  readonly startedAt: number;
  readonly dispatcher: Pool;
  /** Started as a stem cell (stays true after specialize()). */
  readonly stem: boolean;
  readonly #runc: Runc;
  readonly #dir: string;
  readonly #tail: (n: number) => Promise<string>;
  #limits: Readonly<InstanceLimits>;
  #function: FunctionRef | null;
  #phase: InstancePhase;
  #stopping: Promise<void> | undefined;
  #ready: Promise<void> = Promise.resolve();

  private constructor(o: { id: string; pid: number; socketPath: string; limits: InstanceLimits; runc: Runc; dir: string; tail: (n: number) => Promise<string>; connections: number; stem: boolean; fn: FunctionRef | null }) {
    this.id = o.id;
    this.pid = o.pid;
    this.socketPath = o.socketPath;
    this.startedAt = Date.now();
    this.stem = o.stem;
    this.#limits = Object.freeze({ ...o.limits });
    this.#runc = o.runc;
    this.#dir = o.dir;
    this.#tail = o.tail;
    this.#function = o.fn;
    this.#phase = o.stem ? "stem" : "ready";
    // The bootstrap never closes an idle connection and sends no Keep-Alive hint, so undici's
    // own idle timeout (4 s by default) decides: kept long, the connection opened at start is
    // still there for a stem cell's load request, and a warm instance's for its next request.
    this.dispatcher = new Pool("http://fnrun", { socketPath: o.socketPath, connections: o.connections, keepAliveTimeout: IDLE_CONNECTION_MS, keepAliveMaxTimeout: IDLE_CONNECTION_MS });
  }

  /** The limits in force: the start limits, or the function's after specialize() (tmpBytes stays: the tmpfs is mounted). */
  get limits(): Readonly<InstanceLimits> {
    return this.#limits;
  }

  /** The function this instance serves: null for an unspecialized stem cell (and a cold start given none). */
  get function(): FunctionRef | null {
    return this.#function;
  }

  get phase(): InstancePhase {
    return this.#phase;
  }

  /** The bundle directory of a container id. */
  static dirOf(stateDir: string, id: string): string {
    return join(stateDir, "instances", id);
  }

  /**
   * Creates and starts the container and resolves once its bootstrap listens. On any failure
   * it removes the container, its cgroups and its directory before rethrowing.
   */
  static async start(opts: InstanceOptions): Promise<Instance> {
    if (!ID_RE.test(opts.id)) throw new TypeError(`Instance.start: invalid id \`${opts.id}\` (expected [a-z0-9-], at most 63 chars)`);
    const stem = opts.stem === true;
    if (stem && Object.keys(opts.env).length) throw new TypeError(`Instance.start: stem cell \`${opts.id}\` must have an empty env (the function's env is given to specialize())`);
    const dir = Instance.dirOf(opts.stateDir, opts.id);
    const sockDir = join(dir, "sock");
    const socketPath = join(sockDir, SOCKET_NAME);
    const { uid, gid } = await resolveUser(opts.image.User, opts.rootfs);
    await mkdir(join(opts.stateDir, "instances"), { recursive: true });
    if (!opts.output === !opts.logFile) throw new TypeError(`Instance.start: give exactly one of \`output\` and \`logFile\``);
    if (opts.logFile) await mkdir(dirname(opts.logFile), { recursive: true });
    const fn: FunctionRef | null = stem ? null : (opts.function ?? null);
    let reader: OutputReader | undefined;
    const logFile = opts.logFile;
    const tail = async (n: number) => (reader ? reader.tail(n) : lastLines(await readFile(logFile!, "utf8").catch(() => ""), n));
    // Fails with EEXIST for an id in use: before the try, so another instance's dir is never removed.
    await mkdir(dir, { mode: 0o700 });
    trackContainer(opts.id, dir);
    let created = false;
    let createdPid: number | undefined;
    let instanceRef: Instance | undefined;
    try {
      // The function (uid 1000 in the container = host uid 101000) creates its socket here;
      // inside a user namespace a bind-mounted dir is checked against the mapped host uid (FACTS.md).
      await mkdir(sockDir, { mode: 0o700 });
      await chown(sockDir, HOST_ID_BASE + uid, HOST_ID_BASE + gid);
      // Root-owned: the function can read what specialize() puts here, never write it (and the mount is read-only).
      if (stem) await mkdir(join(dir, "code"), { mode: 0o755 });
      await writeFile(join(dir, "config.json"), JSON.stringify(instanceSpec(opts, uid, gid, sockDir)));

      let pid: number;
      created = true; // from here a failed create may leave state behind: always clean up
      if (opts.output) {
        const piped = await opts.runc.createPiped(opts.id, dir);
        pid = createdPid = piped.pid;
        // `instance` does not exist yet: the reader asks for the function through this closure.
        reader = new OutputReader(opts.id, () => (instanceRef?.function ?? fn)?.name ?? null, opts.output, { stdout: piped.stdout, stderr: piped.stderr });
      } else {
        const log = await open(logFile!, "a", 0o640);
        try {
          pid = createdPid = await opts.runc.create(opts.id, dir, { stdout: log.fd, stderr: log.fd });
        } finally {
          await log.close(); // the container holds its own copy of the descriptor
        }
      }
      await opts.runc.start(opts.id);
      await waitReady(socketPath, pid, opts.readyTimeoutMs ?? 10_000, opts.id, async (n) => {
        await reader?.ended(); // the last words of a dead container may still be in the pipe
        return tail(n);
      });
      const instance = new Instance({
        id: opts.id, pid, socketPath, limits: opts.limits, runc: opts.runc, dir, tail,
        connections: opts.connections ?? 16, stem, fn,
      });
      instanceRef = instance;
      // Whether a cold start's import worked: a function that cannot load gets no instance, as a
      // stem cell's failed specialize() gets none. The bootstrap says so in a file beside the
      // socket, not over HTTP: a request now often waits for the container's next CFS period
      // (booting spent its quota), which cost a cold start ~10-25 ms here. A stem cell has time:
      // it is asked over HTTP, which also opens the keep-alive connection its load will use.
      // A stem cell opens two: its load and its first request go in side by side (beginSpecialize).
      const state = opts.bootstrap === false ? {} : stem ? (await Promise.all([bootstrapState(instance), bootstrapState(instance)]))[0] : initErrorOf(sockDir);
      if (!stem && state.ok === false) {
        await instance.dispatcher.destroy().catch(() => {});
        const name = fn ? `function \`${fn.name}\`` : "the function";
        throw new RuntimeError("FNRUN_FUNCTION_INIT", `${name} failed to initialize in instance \`${opts.id}\`: ${state.error ?? "import failed"}`);
      }
      return instance;
    } catch (err) {
      await destroyContainer(opts.runc, opts.id, dir, created && { pid: createdPid }).catch((e: unknown) => {
        (err as Error & { suppressed?: unknown }).suppressed = e;
      });
      throw err;
    }
  }

  /**
   * Makes this stem cell an instance of one function: the bundle into `<dir>/code/index.mjs`
   * (hard link, else copy), the function's cgroup limits (kernel files, else `runc update`),
   * then `POST /__fnrun/load` with the function's env. Once the load is sent the instance is
   * the function's for good (`function` is set, a second specialize() is refused without
   * touching it). Throws FNRUN_FUNCTION_INIT (user) when the bundle's import throws, hangs or
   * kills the container; FNRUN_SPECIALIZE (system) for anything else. After a throw `phase` is
   * "broken": stop() the instance (an import failure still answers 502 `x-fnrun-error: init`).
   */
  async specialize(o: SpecializeOptions): Promise<SpecializeTimings> {
    return (await this.beginSpecialize(o)).loaded;
  }

  /**
   * specialize() in two steps, so that a request can be on its way while the bundle imports:
   * resolves once the bundle is placed, the limits are set and the load is sent, with `loaded`,
   * which settles as specialize() does. A request dispatched meanwhile goes over the second
   * connection opened at start and waits inside the bootstrap for the import; if the import
   * fails it gets the bootstrap's 502 `x-fnrun-error: init`. `ready` settles with `loaded` (what
   * a pool watches when it hands the instance out early). Placing or limits failing rejects at once.
   */
  async beginSpecialize(o: SpecializeOptions): Promise<{ loaded: Promise<SpecializeTimings> }> {
    const fn = `function \`${o.name}\` (revision ${o.revision})`;
    if (!this.stem || this.#phase !== "stem") {
      const why = !this.stem ? "it is not a stem cell" : this.#function ? `it already serves function \`${this.#function.name}\` (revision ${this.#function.revision})` : `it is ${this.#phase}`;
      throw new RuntimeError("FNRUN_SPECIALIZE", `specialize instance \`${this.id}\` for ${fn}: refused, ${why}`);
    }
    if (this.#stopping) throw new RuntimeError("FNRUN_SPECIALIZE", `specialize instance \`${this.id}\` for ${fn}: refused, it is stopping`);
    this.#phase = "specializing"; // synchronously: a concurrent specialize() is refused
    const t0 = performance.now();
    const timeoutMs = o.loadTimeoutMs ?? 10_000;
    let step = "prepare";
    let copyMs = 0;
    let limitsMs = 0;
    try {
      const { memoryBytes, cpu, pids } = o.limits; // not tmpBytes: the stem's tmpfs is mounted already
      // Independent steps (a file in our dir, the cgroup files): run together, timed apart.
      const timed = async (p: () => Promise<unknown>): Promise<number> => {
        const s = performance.now();
        await p();
        return performance.now() - s;
      };
      const settled = await Promise.allSettled([
        timed(() => placeBundle(o.bundlePath, join(this.#dir, "code"))),
        timed(() => applyLimits(this.pid, this.id, this.#runc, { memoryBytes, cpu, pids }, this.#limits)),
      ]);
      const failed = settled.findIndex((r) => r.status === "rejected");
      if (failed >= 0) {
        step = failed === 0 ? "place bundle" : "set limits";
        throw (settled[failed] as PromiseRejectedResult).reason;
      }
      [copyMs, limitsMs] = settled.map((r) => (r as PromiseFulfilledResult<number>).value);
      this.#limits = Object.freeze({ ...this.#limits, memoryBytes, cpu, pids });
    } catch (err) {
      this.#phase = "broken";
      throw await this.#specializeFailure(fn, step, err, timeoutMs);
    }
    this.#function = Object.freeze({ name: o.name, revision: o.revision }); // from here it is F's for good
    const sent = performance.now();
    const loaded = sendLoad(this.dispatcher, STEM_ENTRY, o.env, timeoutMs).then(
      (answer): SpecializeTimings => {
        if (answer.status === 500 && answer.fnrunError === "init") {
          throw new RuntimeError("FNRUN_FUNCTION_INIT", `${fn} failed to initialize in instance \`${this.id}\`: ${answer.body.message ?? "(no message)"}`);
        }
        if (answer.status !== 200 || answer.body.ok !== true) {
          throw new RuntimeError("FNRUN_SPECIALIZE", `specialize instance \`${this.id}\` for ${fn}: load answered ${answer.status}: ${answer.body.error ?? ""}${answer.body.message ? `: ${answer.body.message}` : ""}`);
        }
        this.#phase = "ready";
        const now = performance.now();
        return { copyMs, limitsMs, loadMs: now - sent, importMs: answer.body.loadMs ?? NaN, totalMs: now - t0 };
      },
      async (err: unknown): Promise<never> => {
        throw await this.#specializeFailure(fn, "load", err, timeoutMs);
      },
    );
    const settledLoad = loaded.then(undefined, (err: unknown) => {
      if (this.#phase === "specializing") this.#phase = "broken";
      throw err;
    });
    this.#ready = settledLoad.then(() => {});
    // Whoever holds `loaded` or `ready` sees the failure; an unwatched one is not an unhandled rejection.
    settledLoad.catch(() => {});
    this.#ready.catch(() => {});
    return { loaded: settledLoad };
  }

  /**
   * Settles when the instance serves its function for sure: at once for an instance started
   * with its function or not specialized yet; for one handed out by beginSpecialize() before its
   * bundle finished importing, when the import did (rejecting as specialize() would).
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** Names a failed step; a container that died or a load that timed out is the bundle's doing. */
  async #specializeFailure(fn: string, step: string, err: unknown, timeoutMs: number): Promise<RuntimeError> {
    if (err instanceof RuntimeError && err.code === "FNRUN_SPECIALIZE") return err;
    const code = (err as { code?: string }).code;
    if (step === "load") {
      if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
        return new RuntimeError("FNRUN_FUNCTION_INIT", `${fn} failed to initialize in instance \`${this.id}\`: the bundle did not finish importing within ${timeoutMs} ms`, { cause: err });
      }
      // The connection can close a moment before the process is gone (process.exit() at import
      // closes its sockets first): give it that moment before calling the failure ours.
      if (!(await aliveAfter(this.pid, 250))) {
        const tail = await this.#tail(10);
        return new RuntimeError("FNRUN_FUNCTION_INIT", `${fn} failed to initialize in instance \`${this.id}\`: the container exited while importing the bundle${tail ? `; last log lines:\n${tail}` : ""}`, { cause: err });
      }
    }
    return new RuntimeError("FNRUN_SPECIALIZE", `specialize instance \`${this.id}\` for ${fn}: ${step}: ${(err as Error).message}`, { cause: err });
  }

  /**
   * Whether the kernel's OOM killer killed a process of this container (its memory cgroup's
   * oom_kill counter, runtime/oom.ts). Ask before stop(): the cgroup goes with the container.
   */
  async oomKilled(): Promise<boolean> {
    return ((await oomKills(this.id)) ?? 0) > 0;
  }

  /** Kills the container and removes its runc state, cgroups and directory. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.dispatcher.destroy().catch(() => {});
      await destroyContainer(this.#runc, this.id, this.#dir, { pid: this.pid });
    })();
    return this.#stopping;
  }
}

/**
 * What every fnrun container gets, a function's or a one-off (`fnrun run`): its own namespaces
 * (loopback-only network), the shifted user namespace, its cgroup with these limits, a sized
 * /tmp, masked and read-only /proc paths, no_new_privs, no capabilities, the seccomp profile
 * and an fd limit. One list, so the two kinds cannot drift apart.
 */
export function isolation(id: string, limits: InstanceLimits): SpecOpt[] {
  return [
    withNamespaces(["pid", "mount", "ipc", "uts", "network", "cgroup"]),
    withUserNamespace(HOST_ID_BASE, ID_MAP_SIZE),
    withCgroupsPath(cgroupsPathFor(id)),
    withMemoryLimit(limits.memoryBytes),
    withCpuLimit(limits.cpu),
    withPidsLimit(limits.pids),
    withTmpfs("/tmp", limits.tmpBytes, 0o1777),
    withMaskedPaths(),
    withReadonlyPaths(),
    withNoNewPrivileges(),
    withNoCapabilities(),
    withSeccomp(),
    withRlimitNofile(4096),
  ];
}

/** The spec of a function container (see runtime/README.md for why each part is there). */
export function instanceSpec(opts: InstanceOptions, uid: number, gid: number, sockDir: string): Spec {
  const fnEnv = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
  // No FNRUN_ENTRY makes the bootstrap a stem cell, whatever image config it was given.
  const imageEnv = opts.stem ? opts.image.Env.filter((kv) => !kv.startsWith("FNRUN_ENTRY=")) : opts.image.Env;
  const env = mergeEnv(imageEnv, fnEnv, [
    `FNRUN_SOCKET_DIR=${SOCKET_DIR_IN_IMAGE}`,
    `FNRUN_ENV_KEYS=${Object.keys(opts.env).join(",")}`,
  ]);
  return generateSpec(
    withRootfs(opts.rootfs, true),
    withProcess({ args: opts.image.Cmd, env, cwd: opts.image.WorkingDir || "/" }),
    withUser(uid, gid),
    withHostname(opts.id),
    ...isolation(opts.id, opts.limits),
    withTmpfs("/dev/shm", Math.min(opts.limits.tmpBytes, 64 * 1024 * 1024), 0o1777),
    withBindMount(sockDir, SOCKET_DIR_IN_IMAGE, false),
    ...(opts.stem ? [withCodeMount(join(dirname(sockDir), "code"), CODE_DIR_IN_IMAGE)] : []),
  );
}

/** KEY=value lists merged left to right; a later KEY replaces an earlier one. */
function mergeEnv(...lists: string[][]): string[] {
  const m = new Map<string, string>();
  for (const list of lists) for (const kv of list) m.set(kv.split("=", 1)[0], kv);
  return [...m.values()];
}

/**
 * Asks the bootstrap whether its bundle loaded (`GET /__fnrun/load`); this also opens the
 * keep-alive connection the first requests will use (connect + undici's first request cost
 * milliseconds). Only fnrun's bootstrap answers with its JSON state; another server (an
 * image's own command) has nothing to report.
 */
async function bootstrapState(instance: Instance): Promise<{ phase?: string; ok?: boolean; error?: string }> {
  try {
    const res = await instance.dispatcher.request({ path: LOAD_PATH, method: "GET" });
    if (!String(res.headers["content-type"] ?? "").startsWith("application/json")) {
      await res.body.dump();
      return {};
    }
    return (await res.body.json()) as { phase?: string; ok?: boolean; error?: string };
  } catch (err) {
    await instance.dispatcher.destroy().catch(() => {});
    throw err;
  }
}

/** The bootstrap's word on a failed import at boot (INIT_ERROR_NAME), as bootstrapState() would give it. */
function initErrorOf(sockDir: string): { ok?: boolean; error?: string } {
  try {
    return { ok: false, error: readFileSync(join(sockDir, INIT_ERROR_NAME), "utf8") };
  } catch {
    return {}; // ENOENT: it imported
  }
}

/** Resolves when the socket exists; rejects when the container's init died first or time ran out. */
function waitReady(socketPath: string, pid: number, timeoutMs: number, id: string, tailOf: (n: number) => Promise<string>): Promise<void> {
  const sockDir = socketPath.slice(0, socketPath.lastIndexOf("/"));
  return new Promise((resolve, reject) => {
    let watcher: FSWatcher | undefined;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const check = async () => {
      if (done) return;
      if (await exists(socketPath)) return finish();
      if (!(await alive(pid))) {
        if (await exists(socketPath)) return finish();
        const tail = await tailOf(20);
        finish(new RuntimeError("FNRUN_INSTANCE_EXITED", `instance \`${id}\`: container exited before it became ready${tail ? `; last log lines:\n${tail}` : " (log is empty)"}`));
      }
    };
    // fs.watch tells us about the socket at once; the poll notices a dead init (no event for that).
    try {
      watcher = watch(sockDir, () => void check());
      watcher.on("error", () => {});
    } catch {}
    const poll = setInterval(() => void check(), 25);
    const timer = setTimeout(() => finish(new RuntimeError("FNRUN_INSTANCE_START_TIMEOUT", `instance \`${id}\`: not ready after ${timeoutMs} ms (no socket at \`${socketPath}\`)`)), timeoutMs);
    void check();
  });
}

/** Whether a process still lives after up to `ms` of waiting for it to die. */
async function aliveAfter(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (await alive(pid)) {
    if (Date.now() >= until) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/** Whether a process lives (a zombie counts as dead). */
async function alive(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  if (!status) return false;
  const state = status.slice(status.lastIndexOf(")") + 2, status.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/**
 * Removes a container whatever state it is in, then leftover cgroup dirs and the instance dir.
 * `runc delete --force` alone takes ~110 ms (it sleeps 100 ms after its SIGKILL); with the
 * init's pid known, SIGKILL + waiting for the pid to die + plain `delete` takes ~15-25 ms.
 */
export async function destroyContainer(runc: Runc, id: string, dir: string, container: { pid?: number } | false): Promise<void> {
  if (container) {
    let deleted = false;
    if (container.pid) {
      // When runc cannot signal it (its state was removed under the daemon), its cgroup can.
      const signalled = await runc.kill(id, "KILL").then(() => true, () => false);
      if (!signalled) await killCgroupProcs(id);
      const until = Date.now() + 2000;
      while ((await alive(container.pid)) && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
      deleted = await runc.delete(id).then(() => true, () => false);
    }
    if (!deleted) {
      await runc.delete(id, { force: true }).catch((err: RuntimeError) => {
        // Without a runc binary no container was ever made: only the dir is left to remove.
        if (!/does not exist/.test(err.message) && err.code !== "FNRUN_RUNC_MISSING") throw err;
      });
      // runc knew no such container (state gone): whatever still runs in its cgroup is killed here.
      await killCgroupProcs(id);
    }
    await removeCgroups(id);
  }
  await rm(dir, { recursive: true, force: true });
  untrackContainer(id);
}
