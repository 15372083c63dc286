/**
 * @module builder/base-layout
 * What a fnrun base image holds, as a list of entries, so that the image writer (a tar
 * layer) and anything else that lays out a base rootfs agree on one definition.
 */
import { nodeRuntimeFiles, NODE_PATH_IN_IMAGE, type HostFile } from "./base-files.ts";
import { CODE_DIR_IN_IMAGE } from "./image-paths.ts";

/** The uid/gid functions run as inside their container (never 0). */
export const FUNCTION_UID = 1000;
export const FUNCTION_GID = 1000;
/** Where the bootstrap sits in the base image. */
export const BOOTSTRAP_PATH_IN_IMAGE = "/fnrun/bootstrap.mjs";
/** The host socket directory is bind-mounted here; the bootstrap listens in it. */
export const SOCKET_DIR_IN_IMAGE = "/run/fnrun";
/**
 * The TCP port the bootstrap listens on outside fnrun (no FNRUN_SOCKET_DIR, PORT unset):
 * the image's `EXPOSE`, so `docker run -p 8080:8080 IMAGE` serves.
 */
export const DEFAULT_PORT = 8080;
/** How a container of the image is asked to stop: the bootstrap drains on it (runtime/bootstrap/drain.ts). */
export const STOP_SIGNAL = "SIGTERM";
/** A function image puts its bundle here. */
export const APP_DIR_IN_IMAGE = "/app";
export const ENTRY_IN_IMAGE = "/app/index.mjs";

export type BaseEntry =
  | { type: "dir"; path: string; mode: number }
  | { type: "file"; path: string; mode: number; source: string }
  | { type: "file"; path: string; mode: number; content: string | Uint8Array };

/** Extra content the caller puts into the base image (the runtime's bootstrap bundle). */
export interface BaseLayoutOptions {
  bootstrap: string;
  execPath?: string;
}

/**
 * Every entry of the base rootfs, parents before children. Mount points a read-only
 * rootfs needs exist here (runc cannot create them); /tmp is 1777 because runc gives a
 * tmpfs the mode of the directory it covers (FACTS.md).
 */
export async function baseLayout(options: BaseLayoutOptions): Promise<BaseEntry[]> {
  const files: HostFile[] = await nodeRuntimeFiles(options.execPath);
  const dirs = new Set<string>(["/dev", "/proc", "/sys", "/tmp", "/etc", "/app", "/fnrun", "/run", SOCKET_DIR_IN_IMAGE, CODE_DIR_IN_IMAGE, "/usr/local/bin"]);
  for (const f of files) {
    for (let d = parentOf(f.target); d !== "/"; d = parentOf(d)) dirs.add(d);
  }
  const entries: BaseEntry[] = [...dirs]
    .sort()
    .map((path) => ({ type: "dir", path, mode: path === "/tmp" ? 0o1777 : 0o755 }));
  for (const f of files) entries.push({ type: "file", path: f.target, mode: 0o755, source: f.source });
  entries.push(
    { type: "file", path: "/etc/passwd", mode: 0o644, content: `root:x:0:0:root:/root:/sbin/nologin\nfn:x:${FUNCTION_UID}:${FUNCTION_GID}:fn:/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n` },
    { type: "file", path: "/etc/group", mode: 0o644, content: `root:x:0:\nfn:x:${FUNCTION_GID}:\nnogroup:x:65534:\n` },
    { type: "file", path: BOOTSTRAP_PATH_IN_IMAGE, mode: 0o644, content: options.bootstrap },
  );
  return entries;
}

/**
 * The image config of a base image: how its containers start, under fnrun or anywhere else
 * (docker run, Kubernetes): the port the bootstrap listens on, a non-root user, the signal it
 * drains on. Every function image repeats these in its Dockerfile (dockerfile.ts), so one built
 * FROM another base says the same.
 */
export function baseImageConfig() {
  return {
    User: `${FUNCTION_UID}:${FUNCTION_GID}`,
    ExposedPorts: { [`${DEFAULT_PORT}/tcp`]: {} },
    WorkingDir: APP_DIR_IN_IMAGE,
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production"],
    Cmd: [NODE_PATH_IN_IMAGE, BOOTSTRAP_PATH_IN_IMAGE],
    StopSignal: STOP_SIGNAL,
  };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
