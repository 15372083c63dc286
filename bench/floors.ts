/**
 * @module bench/floors
 * The floors a cold start is compared with, measured in the same run:
 *  - host node: a plain `node` process (node:http on a unix socket), spawn → first 200;
 *  - host node + bootstrap: fnrun's in-container bootstrap serving the hello function, run
 *    on the host, spawn → first 200;
 *  - runc + node: runtime's Instance.start (runc create + start, the exact OCI spec fnrun
 *    generates: namespaces, user namespace, cgroup limits, read-only base rootfs, seccomp)
 *    with the image's command replaced by the same plain node:http server → first 200;
 *  - runc + bootstrap: Instance.start of the base rootfs running the bootstrap with the hello
 *    bundle (what a function container is, minus the daemon, pool and gateway) → first 200.
 * Every node child gets a minimal env. Containers are stopped after each sample (not timed).
 */
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImageConfig, baseLayout, BOOTSTRAP_PATH_IN_IMAGE } from "../builder/base-layout.ts";
import { NODE_PATH_IN_IMAGE } from "../builder/base-files.ts";
import { bootstrapBundle } from "../runtime/bootstrap/build.ts";
import { Instance, type ImageConfig, type InstanceLimits } from "../runtime/instance.ts";
import { Runc } from "../runtime/runc.ts";
import { getWhenUp, MIN_ENV, sleep } from "./lib.ts";
import { sweep } from "./daemon.ts";

/** node:http hello on a unix socket: argv[2], or $FNRUN_SOCKET_DIR/fn.sock in a container. */
const PLAIN_SERVER = `import { createServer } from "node:http";
createServer((req, res) => { res.setHeader("content-type", "text/plain; charset=utf-8"); res.end("hello, world\\n"); })
  .listen(process.argv[2] || process.env.FNRUN_SOCKET_DIR + "/fn.sock");
`;

/** The hello function, as its bundle would be (functions/hello without the name route). */
export const HELLO_FUNCTION = `export default {
  async fetch(request, env) {
    const name = new URL(request.url).pathname.split("/")[2] || env.GREETING_NAME || "world";
    return new Response(\`hello, \${decodeURIComponent(name)}\\n\`, { headers: { "content-type": "text/plain; charset=utf-8" } });
  },
};
`;

export type FloorKind = "hostPlain" | "hostBootstrap" | "runcPlain" | "runcBootstrap";

export interface Floors {
  /** One sample of a floor: ms from spawn (or Instance.start) to the end of the first 200. */
  sample(kind: FloorKind): Promise<number>;
  close(): Promise<void>;
}

export async function setUpFloors(limits: InstanceLimits): Promise<Floors> {
  const root = await mkdtemp(join(tmpdir(), "fnrun-bench-floor-"));
  // The container's root (host uid 100000) must traverse to its rootfs.
  await chmod(root, 0o755);
  const rootfs = join(root, "rootfs");
  const stateDir = join(root, "state");
  const hostDir = join(root, "host");
  let seq = 0;
  const live = new Set<Instance>();
  try {
    await mkdir(rootfs);
    await mkdir(stateDir);
    await mkdir(hostDir);
    const bootstrap = await bootstrapBundle();
    for (const e of await baseLayout({ bootstrap })) {
      const target = join(rootfs, e.path);
      if (e.type === "dir") await mkdir(target, { recursive: true });
      else if ("source" in e) await copyFile(e.source, target);
      else await writeFile(target, e.content);
      await chmod(target, e.mode);
    }
    for (const [name, text] of [["plain.mjs", PLAIN_SERVER], ["hello.mjs", HELLO_FUNCTION]]) {
      await writeFile(join(rootfs, "app", name), text);
      await chmod(join(rootfs, "app", name), 0o644);
      await writeFile(join(hostDir, name), text);
    }
    await writeFile(join(hostDir, "bootstrap.mjs"), bootstrap);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }

  const runc = new Runc({ root: join(stateDir, "runc") });
  const base = baseImageConfig();
  const images: Record<"runcPlain" | "runcBootstrap", ImageConfig> = {
    runcPlain: { ...base, Cmd: [NODE_PATH_IN_IMAGE, "/app/plain.mjs"] },
    runcBootstrap: { ...base, Cmd: [NODE_PATH_IN_IMAGE, BOOTSTRAP_PATH_IN_IMAGE], Env: [...base.Env, "FNRUN_ENTRY=/app/hello.mjs"] },
  };

  async function hostSample(kind: "hostPlain" | "hostBootstrap"): Promise<number> {
    const dir = join(hostDir, `s${seq++}`);
    await mkdir(dir);
    const sock = join(dir, "fn.sock");
    const t0 = performance.now();
    const child =
      kind === "hostPlain"
        ? spawn(process.execPath, [join(hostDir, "plain.mjs"), sock], { env: MIN_ENV, stdio: "ignore" })
        : spawn(process.execPath, [join(hostDir, "bootstrap.mjs")], {
            env: { ...MIN_ENV, FNRUN_SOCKET_DIR: dir, FNRUN_ENTRY: join(hostDir, "hello.mjs"), FNRUN_ENV_KEYS: "" },
            stdio: "ignore",
          });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      const res = await getWhenUp({ socketPath: sock, path: "/hello" });
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`${kind}: status ${res.status}: ${res.body}`);
      return ms;
    } finally {
      child.kill("SIGKILL");
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function runcSample(kind: "runcPlain" | "runcBootstrap"): Promise<number> {
    const id = `floor-${kind === "runcPlain" ? "p" : "b"}${seq++}`;
    const t0 = performance.now();
    const inst = await Instance.start({
      id,
      bootstrap: kind === "runcBootstrap",
      stateDir,
      rootfs,
      image: images[kind],
      env: {},
      limits,
      logFile: join(stateDir, "logs", `${kind}.log`),
      runc,
      connections: 1,
    });
    live.add(inst);
    try {
      const res = await getWhenUp({ socketPath: inst.socketPath, path: "/hello" });
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`${kind}: status ${res.status}: ${res.body}`);
      return ms;
    } finally {
      await inst.stop();
      live.delete(inst);
    }
  }

  return {
    sample: (kind) => (kind === "hostPlain" || kind === "hostBootstrap" ? hostSample(kind) : runcSample(kind)),
    close: async () => {
      for (const inst of live) await inst.stop().catch(() => {});
      await sweep(stateDir);
      await sleep(0);
      await rm(root, { recursive: true, force: true });
    },
  };
}
