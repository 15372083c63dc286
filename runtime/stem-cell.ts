/**
 * @module runtime/stem-cell
 * The three steps that turn a stem cell (a container of the base image whose bootstrap runs
 * with no function) into an instance of one function: place the bundle where the container
 * can read it, set the function's cgroup limits, tell the bootstrap to import the bundle.
 * Instance.specialize() runs them in that order (limits before the import, so the import
 * already runs under the function's memory and CPU) and keeps the instance's bookkeeping.
 */
import { linkSync, lstatSync, statSync } from "node:fs";
import { chmod, constants, copyFile, link, lstat, mkdir, readdir, readlink, stat, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Dispatcher } from "undici";
import { containerCgroupPaths, writeLimitsAt, type LimitsUpdate } from "./cgroup.ts";
import { RuntimeError } from "./errors.ts";
import { LOAD_PATH } from "./bootstrap/reserved-paths.ts";
import type { Runc } from "./runc.ts";

/**
 * Where a stem cell sees `<instance dir>/code/` (read-only bind mount), and the bundle's path
 * in it. The base image has this directory (builder/base-layout.ts): a read-only rootfs cannot
 * get new mount points.
 */
export { CODE_DIR_IN_IMAGE, STEM_ENTRY } from "../builder/image-paths.ts";

/** Which function (and which revision of it) an instance serves. */
export interface FunctionRef {
  readonly name: string;
  readonly revision: string;
}

export interface SpecializeOptions {
  name: string;
  revision: string;
  /**
   * The function's bundle on the host. It is hard-linked, so it must never be rewritten in
   * place: use the image's unpacked copy (`<store.rootfs(ref)>/app/index.mjs`, immutable per
   * image), not the build context that the next deploy overwrites.
   */
  bundlePath: string;
  /** The function's env from config: set in process.env and passed as the `env` argument. */
  env: Record<string, string>;
  limits: { memoryBytes: number; cpu: number; pids: number };
  /** How long the bundle may take to import (default 10 s). */
  loadTimeoutMs?: number;
}

/** Milliseconds of each step, measured on the host. */
export interface SpecializeTimings {
  copyMs: number;
  limitsMs: number;
  /** The load request's round trip (the import plus one HTTP exchange over the socket). */
  loadMs: number;
  /** The import alone, as the bootstrap measured it. */
  importMs: number;
  totalMs: number;
}

/**
 * Puts the bundle at `<codeDir>/index.mjs`, readable by the function and owned by root, and the
 * image's `node_modules` beside the bundle (external packages, builder/externals.ts) at
 * `<codeDir>/node_modules`, so `require("better-sqlite3")` from the bundle finds them as it
 * does in the function's own image.
 * A hard link costs one metadata write; it shares the source's inode, so it is used only
 * when that inode is already root-owned and world-readable without setuid/setgid bits (never
 * chmod a file the image store owns). Otherwise (other owner or mode, another filesystem) the
 * file is copied.
 */
export async function placeBundle(bundlePath: string, codeDir: string): Promise<"link" | "copy"> {
  const modules = join(dirname(bundlePath), "node_modules");
  // The common case (an image store's bundle, no node_modules beside it) in three syscalls, done
  // synchronously: a stem start waits for it, and each trip through libuv's thread pool cost
  // ~0.3 ms on a loaded 2-core machine.
  if (linkable(statSync(bundlePath, { throwIfNoEntry: false })) && lstatSync(modules, { throwIfNoEntry: false }) === undefined) {
    try {
      linkSync(bundlePath, join(codeDir, "index.mjs"));
      return "link";
    } catch {
      // EXDEV, EMLINK, EPERM: the general path below copies.
    }
  }
  const [how] = await Promise.all([
    placeFile(bundlePath, join(codeDir, "index.mjs")),
    lstat(modules).then(
      (st) => (st.isDirectory() ? placeTree(modules, join(codeDir, "node_modules")) : undefined),
      () => undefined,
    ),
  ]);
  return how;
}

/** A regular file owned by root, world-readable, without setuid/setgid: safe to share by a hard link. */
function linkable(st: { isFile(): boolean; uid: number; mode: number } | undefined): boolean {
  return st !== undefined && st.isFile() && st.uid === 0 && (st.mode & 0o6004) === 0o004;
}

async function placeFile(src: string, target: string): Promise<"link" | "copy"> {
  const st = await stat(src);
  if (!st.isFile()) throw new Error(`\`${src}\` is not a regular file`);
  if (linkable(st)) {
    try {
      await link(src, target);
      return "link";
    } catch {
      // EXDEV (another filesystem), EMLINK, EPERM (protected_hardlinks): copy instead.
    }
  }
  await copyFile(src, target, constants.COPYFILE_EXCL);
  await chmod(target, st.mode & 0o111 ? 0o755 : 0o644);
  return "copy";
}

/** Recreates the tree `src` at `dest`: directories 0755, files linked (else copied), symlinks as they are. */
async function placeTree(src: string, dest: string): Promise<void> {
  await mkdir(dest);
  await chmod(dest, 0o755); // mkdir's mode is narrowed by the umask
  const entries = await readdir(src, { withFileTypes: true });
  await Promise.all(
    entries.map(async (e) => {
      const from = join(src, e.name);
      const to = join(dest, e.name);
      if (e.isDirectory()) await placeTree(from, to);
      else if (e.isSymbolicLink()) await symlink(await readlink(from), to);
      else if (e.isFile()) await placeFile(from, to);
    }),
  );
}

/**
 * Sets the function's limits in the container's cgroup by writing the kernel files
 * synchronously, at the paths its id gives (~0.2 ms in all); `runc update` (~7 ms) only if that
 * fails. Both failing (e.g. EBUSY: the memory in use is above the new limit) is FNRUN_SPECIALIZE.
 * `current`: the limits the container has now; a controller already at the function's value is
 * not written (a stem cell starts at [defaults], which most functions keep), so a function with
 * the stem's limits costs no write at all.
 */
export async function applyLimits(_pid: number, id: string, runc: Runc, limits: SpecializeOptions["limits"], current?: SpecializeOptions["limits"]): Promise<"files" | "runc" | "unchanged"> {
  const changed: LimitsUpdate = {};
  if (limits.memoryBytes !== current?.memoryBytes) changed.memoryBytes = limits.memoryBytes;
  if (limits.cpu !== current?.cpu) changed.cpu = limits.cpu;
  if (limits.pids !== current?.pids) changed.pids = limits.pids;
  if (Object.keys(changed).length === 0) return "unchanged";
  try {
    writeLimitsAt(containerCgroupPaths(id), changed);
    return "files";
  } catch (direct) {
    try {
      await runc.update(id, limits);
      return "runc";
    } catch (viaRunc) {
      throw new RuntimeError(
        "FNRUN_SPECIALIZE",
        `set limits of instance \`${id}\` (memory ${limits.memoryBytes}, cpu ${limits.cpu}, pids ${limits.pids}): ${(direct as Error).message}; runc update: ${(viaRunc as Error).message}`,
        { cause: direct },
      );
    }
  }
}

/** The bootstrap's answer to the load request. */
export interface LoadAnswer {
  status: number;
  fnrunError?: string;
  body: { ok?: boolean; loadMs?: number; error?: string; message?: string };
}

/**
 * How much longer than the import's own timeout the host waits for the load's answer: the
 * bootstrap times the import itself (and then answers 500 init, also to requests waiting for
 * it); this is for a bootstrap that cannot answer at all.
 */
export const LOAD_ANSWER_GRACE_MS = 2000;
/** The longest load request (its JSON) sent in the `x-fnrun-load` header rather than as the body. */
const LOAD_IN_HEADER_MAX = 64 * 1024;

/**
 * Sends `POST /__fnrun/load {entry, env, timeoutMs}` over the instance's dispatcher; the
 * bootstrap fails the import after `timeoutMs`. No answer within `timeoutMs` +
 * LOAD_ANSWER_GRACE_MS, or a closed socket, rejects.
 */
export async function sendLoad(dispatcher: Dispatcher, entry: string, env: Record<string, string>, timeoutMs: number): Promise<LoadAnswer> {
  const json = JSON.stringify({ entry, env, timeoutMs });
  // In one header when small: the bootstrap then starts the import without reading a body.
  const inHeader = json.length <= LOAD_IN_HEADER_MAX ? Buffer.from(json).toString("base64") : undefined;
  const res = await dispatcher.request({
    path: LOAD_PATH,
    method: "POST",
    headers: inHeader ? { "x-fnrun-load": inHeader } : { "content-type": "application/json" },
    body: inHeader ? undefined : json,
    headersTimeout: timeoutMs + LOAD_ANSWER_GRACE_MS,
    bodyTimeout: timeoutMs + LOAD_ANSWER_GRACE_MS,
  });
  const text = await res.body.text();
  let body: LoadAnswer["body"];
  try {
    body = JSON.parse(text) as LoadAnswer["body"];
  } catch {
    body = { error: "unparseable answer", message: text.slice(0, 200) };
  }
  const fnrunError = res.headers["x-fnrun-error"];
  return { status: res.statusCode, fnrunError: typeof fnrunError === "string" ? fnrunError : undefined, body };
}
