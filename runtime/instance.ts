/**
 * @module runtime/instance
 * One running container of a function: born from an OCI bundle in
 * `<state>/instances/<id>/`, reachable over `<that dir>/sock/fn.sock`, killed by stop().
 */
import { watch, type FSWatcher } from "node:fs";
import { access, chown, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Pool } from "undici";
import { SOCKET_DIR_IN_IMAGE } from "../builder/base-layout.ts";
import { cgroupsPathFor, removeCgroups } from "./cgroup.ts";
import { RuntimeError, lastLines } from "./errors.ts";
import type { Runc } from "./runc.ts";
import {
  generateSpec, withBindMount, withCgroupsPath, withCpuLimit, withHostname, withMaskedPaths, withMemoryLimit,
  withNamespaces, withNoCapabilities, withNoNewPrivileges, withPidsLimit, withProcess, withReadonlyPaths,
  withRlimitNofile, withRootfs, withSeccomp, withTmpfs, withUser, withUserNamespace, type Spec,
} from "./spec.ts";
import { resolveUser } from "./user.ts";

export { cleanupOrphans } from "./orphans.ts";

/** Container ids 0..65535 map to host ids 100000..165535 (the usual subuid range of one user). */
export const HOST_ID_BASE = 100_000;
export const ID_MAP_SIZE = 65_536;
/** File name of the bootstrap's socket inside the socket dir. */
export const SOCKET_NAME = "fn.sock";

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
  /** The function's env from config: set in the process env and listed in FNRUN_ENV_KEYS. */
  env: Record<string, string>;
  limits: InstanceLimits;
  /** The function's log file: the container's stdout and stderr (opened O_APPEND). */
  logFile: string;
  runc: Runc;
  readyTimeoutMs?: number;
  /** Connections of the dispatcher (requests in flight to this instance). */
  connections?: number;
}

const ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class Instance {
  readonly id: string;
  readonly pid: number;
  readonly socketPath: string;
  readonly startedAt: number;
  readonly limits: Readonly<InstanceLimits>;
  readonly dispatcher: Pool;
  readonly #runc: Runc;
  readonly #dir: string;
  #stopping: Promise<void> | undefined;

  private constructor(o: { id: string; pid: number; socketPath: string; limits: InstanceLimits; runc: Runc; dir: string; connections: number }) {
    this.id = o.id;
    this.pid = o.pid;
    this.socketPath = o.socketPath;
    this.startedAt = Date.now();
    this.limits = Object.freeze({ ...o.limits });
    this.#runc = o.runc;
    this.#dir = o.dir;
    this.dispatcher = new Pool("http://fnrun", { socketPath: o.socketPath, connections: o.connections });
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
    const dir = Instance.dirOf(opts.stateDir, opts.id);
    const sockDir = join(dir, "sock");
    const socketPath = join(sockDir, SOCKET_NAME);
    const { uid, gid } = await resolveUser(opts.image.User, opts.rootfs);
    await mkdir(join(opts.stateDir, "instances"), { recursive: true });
    await mkdir(dirname(opts.logFile), { recursive: true });
    // Fails with EEXIST for an id in use: before the try, so another instance's dir is never removed.
    await mkdir(dir, { mode: 0o700 });
    let created = false;
    let createdPid: number | undefined;
    try {
      // The function (uid 1000 in the container = host uid 101000) creates its socket here;
      // inside a user namespace a bind-mounted dir is checked against the mapped host uid (FACTS.md).
      await mkdir(sockDir, { mode: 0o700 });
      await chown(sockDir, HOST_ID_BASE + uid, HOST_ID_BASE + gid);
      await writeFile(join(dir, "config.json"), JSON.stringify(instanceSpec(opts, uid, gid, sockDir)));

      const log = await open(opts.logFile, "a", 0o640);
      let pid: number;
      try {
        created = true; // from here a failed create may leave state behind: always clean up
        pid = createdPid = await opts.runc.create(opts.id, dir, { stdout: log.fd, stderr: log.fd });
      } finally {
        await log.close(); // the container holds its own copy of the descriptor
      }
      await opts.runc.start(opts.id);
      await waitReady(socketPath, pid, opts.readyTimeoutMs ?? 10_000, opts.id, opts.logFile);
      return new Instance({ id: opts.id, pid, socketPath, limits: opts.limits, runc: opts.runc, dir, connections: opts.connections ?? 16 });
    } catch (err) {
      await destroyContainer(opts.runc, opts.id, dir, created && { pid: createdPid }).catch((e: unknown) => {
        (err as Error & { suppressed?: unknown }).suppressed = e;
      });
      throw err;
    }
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

/** The spec of a function container (see runtime/README.md for why each part is there). */
export function instanceSpec(opts: InstanceOptions, uid: number, gid: number, sockDir: string): Spec {
  const fnEnv = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
  const env = mergeEnv(opts.image.Env, fnEnv, [
    `FNRUN_SOCKET_DIR=${SOCKET_DIR_IN_IMAGE}`,
    `FNRUN_ENV_KEYS=${Object.keys(opts.env).join(",")}`,
  ]);
  return generateSpec(
    withRootfs(opts.rootfs, true),
    withProcess({ args: opts.image.Cmd, env, cwd: opts.image.WorkingDir || "/" }),
    withUser(uid, gid),
    withHostname(opts.id),
    withNamespaces(["pid", "mount", "ipc", "uts", "network", "cgroup"]),
    withUserNamespace(HOST_ID_BASE, ID_MAP_SIZE),
    withCgroupsPath(cgroupsPathFor(opts.id)),
    withMemoryLimit(opts.limits.memoryBytes),
    withCpuLimit(opts.limits.cpu),
    withPidsLimit(opts.limits.pids),
    withTmpfs("/tmp", opts.limits.tmpBytes, 0o1777),
    withTmpfs("/dev/shm", Math.min(opts.limits.tmpBytes, 64 * 1024 * 1024), 0o1777),
    withBindMount(sockDir, SOCKET_DIR_IN_IMAGE, false),
    withMaskedPaths(),
    withReadonlyPaths(),
    withNoNewPrivileges(),
    withNoCapabilities(),
    withSeccomp(),
    withRlimitNofile(4096),
  );
}

/** KEY=value lists merged left to right; a later KEY replaces an earlier one. */
function mergeEnv(...lists: string[][]): string[] {
  const m = new Map<string, string>();
  for (const list of lists) for (const kv of list) m.set(kv.split("=", 1)[0], kv);
  return [...m.values()];
}

/** Resolves when the socket exists; rejects when the container's init died first or time ran out. */
function waitReady(socketPath: string, pid: number, timeoutMs: number, id: string, logFile: string): Promise<void> {
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
        const tail = lastLines(await readFile(logFile, "utf8").catch(() => ""), 20);
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
      await runc.kill(id, "KILL").catch(() => {});
      const until = Date.now() + 2000;
      while ((await alive(container.pid)) && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
      deleted = await runc.delete(id).then(() => true, () => false);
    }
    if (!deleted) {
      await runc.delete(id, { force: true }).catch((err: RuntimeError) => {
        if (!/does not exist/.test(err.message)) throw err;
      });
    }
    await removeCgroups(id);
  }
  await rm(dir, { recursive: true, force: true });
}
