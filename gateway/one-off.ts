/**
 * @module gateway/one-off
 * `fnrun run REF [-- CMD ARGS]`: one container from any stored (or pulled) image, like
 * `docker run --rm`, with the isolation of a function instance — read-only shared rootfs,
 * user namespace, no capabilities, no_new_privs, seccomp, loopback-only network, memory,
 * CPU and pids limits, a size-limited /tmp — the same list of spec options
 * (runtime/instance.ts `isolation`). It is not an HTTP server, so it runs under `runc run` in the
 * foreground: runc hands back the process's exit code, and the container is gone after.
 * Its stdout and stderr stream to the caller as they come.
 */
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatRegistryRef, isRegistryRef, parseRegistryRef, pullImage, type ImageStore, type RegistryOptions } from "../builder/index.ts";
import { destroyContainer, isolation } from "../runtime/instance.ts";
import { trackContainer } from "../runtime/live-containers.ts";
import type { Runc } from "../runtime/runc.ts";
import { generateSpec, withHostname, withProcess, withRootfs, withUser } from "../runtime/spec.ts";
import { resolveUser } from "../runtime/user.ts";

export interface OneOffLimits {
  memoryBytes: number;
  cpu: number;
  pids: number;
  tmpBytes: number;
}

export interface OneOffOptions {
  store: ImageStore;
  runc: Runc;
  stateDir: string;
  /** The path runc should use for an unpacked rootfs (RootfsMount.pathOf). */
  rootfsPath: (dir: string) => string;
}

export interface OneOffRequest {
  ref: string;
  /** Replaces the image's Cmd (its Entrypoint stays, as with docker run). */
  cmd?: string[];
  limits: OneOffLimits;
  registry?: RegistryOptions;
}

/** One-off containers running now, for `fnrun ps`. */
export const oneOffs = new Map<string, { image: string; limits: OneOffLimits; startedAt: string }>();
/** How each running one-off ends: awaited by stopOneOffs(). */
const running = new Map<string, { kill: () => void; done: Promise<unknown> }>();

/**
 * Kills every one-off and waits for each to be removed. The daemon calls it on shutdown:
 * `runc run` would outlive it, and its container with it.
 */
export async function stopOneOffs(): Promise<void> {
  const all = [...running.values()];
  for (const r of all) r.kill();
  await Promise.allSettled(all.map((r) => r.done));
}

let seq = 0;

/**
 * Runs the container to its end; `onOutput` gets its output as it comes. Resolves with the exit
 * code (128+n for signal n, as shells report it). `signal` aborting kills the container.
 */
export async function runOneOff(opts: OneOffOptions, req: OneOffRequest, onOutput: (stream: "stdout" | "stderr", chunk: Buffer) => void, signal?: AbortSignal): Promise<number> {
  // As docker run: a registry image already in the store is used as it is, else pulled first.
  const stored = isRegistryRef(req.ref) ? await opts.store.resolve(formatRegistryRef(parseRegistryRef(req.ref))).catch(() => null) : null;
  const image = stored ?? (isRegistryRef(req.ref) ? (await pullImage(opts.store, req.ref, req.registry)).image : await opts.store.resolve(req.ref));
  const [rootfs, config] = await Promise.all([opts.store.rootfs(image.digest), opts.store.imageConfig(image.digest)]);
  const args = [...(config.Entrypoint ?? []), ...(req.cmd && req.cmd.length ? req.cmd : config.Cmd)];
  if (args.length === 0) throw Object.assign(new Error(`run \`${req.ref}\`: the image has no Cmd or Entrypoint; give a command after --`), { code: "FNRUN_RUN_NO_COMMAND", kind: "user" });
  const { uid, gid } = await resolveUser(config.User, rootfs);
  const id = `run-${(seq++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const dir = join(opts.stateDir, "instances", id);
  await mkdir(join(opts.stateDir, "instances"), { recursive: true });
  await mkdir(dir, { mode: 0o700 });
  trackContainer(id, dir);
  const spec = generateSpec(
    withRootfs(opts.rootfsPath(rootfs), true),
    withProcess({ args, env: config.Env, cwd: config.WorkingDir || "/" }),
    withUser(uid, gid),
    withHostname(id),
    ...isolation(id, req.limits),
  );
  await writeFile(join(dir, "config.json"), JSON.stringify(spec));
  oneOffs.set(id, { image: image.ref, limits: req.limits, startedAt: new Date().toISOString() });
  try {
    const child = spawn(opts.runc.binary, ["--root", opts.runc.root, "run", "--bundle", dir, id], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    child.stdout.on("data", (c: Buffer) => onOutput("stdout", c));
    child.stderr.on("data", (c: Buffer) => onOutput("stderr", c));
    const onAbort = () => void opts.runc.kill(id, "KILL").catch(() => {});
    signal?.addEventListener("abort", onAbort, { once: true });
    const exit = new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, sig) => resolve(code ?? 128 + (sig ? signalNumber(sig) : 0)));
    });
    running.set(id, { kill: onAbort, done: exit.catch(() => {}) });
    try {
      return await exit;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    running.delete(id);
    oneOffs.delete(id);
    // runc run removes its container on exit; this removes what a failure may have left (cgroups, dir).
    await destroyContainer(opts.runc, id, dir, { pid: undefined }).catch(() => {});
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const n: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return n[sig] ?? 0;
}
