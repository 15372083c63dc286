/**
 * @module gateway/daemon
 * The composition root: the one place that wires config, image store, runc, pools, the
 * deployer, the control API and the public gateway together. `fnrun up` runs it.
 */
import { chmod, mkdir, unlink } from "node:fs/promises";
import type { Server } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { ensureBaseImage, ImageStore, type ImageInfo } from "../builder/index.ts";
import { bootstrapBundle } from "../runtime/bootstrap/build.ts";
import { cleanupOrphans, Instance, type ImageConfig, type InstanceLimits } from "../runtime/instance.ts";
import { FunctionLogs } from "../runtime/function-logs.ts";
import { PoolManager } from "../runtime/pool-manager.ts";
import { removeEmptyParents } from "../runtime/cgroup.ts";
import { RootfsMount } from "../runtime/rootfs-mount.ts";
import { killLiveContainers, liveContainers } from "../runtime/live-containers.ts";
import { Runc } from "../runtime/runc.ts";
import { loadConfig, type FnrunConfig, type FunctionLimits } from "./config.ts";
import { createControlApi } from "./control-api.ts";
import { Deployer, type DeployResult } from "./deployer.ts";
import { redeployImages } from "./image-deploy.ts";
import { stopOneOffs } from "./one-off.ts";
import { DeploymentLog } from "./deployments.ts";
import { DeployHistory } from "./deploy-history.ts";
import { consoleAsset, withConsole } from "./console-assets.ts";
import { InvocationLog } from "./invocation-log.ts";
import { JobStore } from "./job-store.ts";
import { JobService, verifyScheduledHandler } from "./jobs.ts";
import { Metrics, withMetricsRoute } from "./metrics.ts";
import { startRemoteControl } from "./remote-control.ts";
import { SecretStore } from "./secrets.ts";
import type { FunctionDefinition } from "./function-definition.ts";
import type { Logger } from "./log.ts";
import { createPublicServer, type InvocationRecord } from "./public-server.ts";
import { GatewayWorkers } from "./workers/gateway-workers.ts";
import { LeaseBroker } from "./workers/lease-broker.ts";
import type { FunctionInfo } from "./workers/protocol.ts";
import { reloadConfig, type ReloadResult } from "./reload.ts";
import { timeoutLogger } from "./timeout-log.ts";
import { RouteTable, type RouteSpec } from "./routes.ts";

export const VERSION = "0.1.0";

export interface DaemonOptions {
  configPath: string;
  log: Logger;
  /** Overrides [gateway] listen (tests use port 0). */
  listen?: { host: string; port: number };
}

export interface Daemon {
  config: FnrunConfig;
  /** Where the public gateway listens. */
  url: string;
  controlSocket: string;
  deployed: Array<DeployResult | { name: string; error: string }>;
  /** Re-reads config.toml and redeploys what changed; a bad config throws and changes nothing. */
  reload(): Promise<ReloadResult>;
  /**
   * Drains and stops everything. Bounded: what is still running after `deadlineMs` (default
   * SHUTDOWN_DEADLINE_MS) is killed by its cgroup, so a daemon whose state dir or runc state
   * vanished under it still exits and leaves no process behind.
   */
  close(opts?: { deadlineMs?: number }): Promise<void>;
  /** Stops at once: every container this daemon made is killed by its cgroup (a second Ctrl-C). */
  kill(): Promise<void>;
}

/** How long a shutdown may take before what is left is killed (the pools drain for up to 5 s of it). */
export const SHUTDOWN_DEADLINE_MS = 15_000;

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { log } = opts;
  const { config, warnings } = await loadConfig(opts.configPath);
  for (const w of warnings) log.warn(`${w.key}: ${w.message}`, { config: config.path });
  const stateDir = config.daemon.stateDir;
  await mkdir(join(stateDir, "logs"), { recursive: true, mode: 0o700 });
  // 0711: nobody may list it; container roots reach their rootfs through RootfsMount.
  await chmod(stateDir, 0o711);

  const socketPath = config.control.socket;
  await refuseSecondDaemon(socketPath);

  const runc = new Runc({ root: join(stateDir, "runc") });
  const orphans = await cleanupOrphans(stateDir, runc);
  if (orphans.length > 0) log.info(`removed ${orphans.length} containers left by a previous run`, { containers: orphans });

  // What start-up made, undone in reverse order if a later step fails, and by close().
  const teardown: Array<() => Promise<unknown>> = [];
  const undo = async () => {
    for (const step of teardown.reverse().splice(0)) await step().catch((err) => log.error(`shutdown: ${(err as Error).message}`));
  };
  try {
    const rootfsMount = await RootfsMount.open(stateDir);
    teardown.push(() => rootfsMount.close());
    // Runs after every container has stopped (teardown goes in reverse): the empty /fnrun parents runc made.
    teardown.push(() => removeEmptyParents());

    const store = new ImageStore(stateDir);
    await store.init();
    let base: Promise<ImageInfo> | null = null;
    const baseImage = () => (base ??= bootstrapBundle().then((bootstrap) => ensureBaseImage(store, { bootstrap })));
    const t0 = performance.now();
    const baseInfo = await baseImage();
    log.info(`base image ${baseInfo.ref} ready`, { ms: Math.round(performance.now() - t0) });

    // Instances' stdout/stderr, line by line, into the log of the function each serves.
    const logs = new FunctionLogs({ dir: join(stateDir, "logs") });
    await logs.init();
    teardown.push(() => logs.close());

    const instanceStarter = (opts: { name: string; rootfs: string; image: ImageConfig; env: Record<string, string>; limits: InstanceLimits; connections: number; stem?: boolean; revision?: string }) =>
      Instance.start({
        id: instanceId(opts.name),
        stateDir,
        rootfs: rootfsMount.pathOf(opts.rootfs),
        image: opts.image,
        env: opts.env,
        limits: opts.limits,
        output: logs,
        function: opts.revision ? { name: opts.name, revision: opts.revision } : undefined,
        runc,
        connections: opts.connections,
        stem: opts.stem,
      });
    // Secrets (fnrun secret set) join config.toml's env at each instance start, never the image.
    const secrets = new SecretStore(stateDir);
    await secrets.init();
    const envOf = (def: FunctionDefinition) => ({ ...def.config.env, ...secrets.envFor(def.name) });
    const limitsOf = (c: FunctionLimits): InstanceLimits => ({ memoryBytes: c.memoryBytes, cpu: c.cpu, pids: c.pids, tmpBytes: c.tmpBytes });
    const baseRootfs = await store.rootfs(baseInfo.digest);
    const baseConfig = await store.imageConfig(baseInfo.digest);

    const pools = new PoolManager<FunctionDefinition, Instance>({
      idleTimeoutMs: config.pool.idleTimeoutMs,
      memoryBudgetBytes: config.pool.memoryBudgetBytes,
      onError: (err) => log.error(`pool: ${(err as Error).message}`),
      startCold: (def) =>
        instanceStarter({ name: def.name, revision: def.revision, rootfs: def.rootfs, image: def.imageConfig, env: envOf(def), limits: limitsOf(def.config), connections: def.concurrency }),
      // Stem cells run the base image with the [defaults] limits until one becomes a function.
      stemCells: config.pool.stemCells,
      stemMemoryBytes: config.defaults.memoryBytes,
      startStem: () =>
        instanceStarter({ name: "stem", rootfs: baseRootfs, image: baseConfig, env: {}, limits: limitsOf(config.defaults), connections: config.defaults.concurrency, stem: true }),
      // Resolves once the load is sent: the first request goes in behind it (stem.ready tells the pool how the load went).
      specialize: async (stem, def) => {
        await stem.beginSpecialize({ name: def.name, revision: def.revision, bundlePath: def.bundlePath, env: envOf(def), limits: limitsOf(def.config) });
        return stem;
      },
    });
    teardown.push(async () => {
      // Requests in flight get a moment to finish, then every container stops.
      const drained = await Promise.race([pools.close().then(() => true), new Promise<boolean>((r) => setTimeout(r, 5000, false).unref())]);
      if (!drained) await pools.destroy();
    });

    let routes = new RouteTable(new Map());
    /** Gateway workers (if any) learn of every deploy and removal through this. */
    let onFunctionsChanged = () => {};
    const deployments = new DeploymentLog(stateDir);
    const invocations = new InvocationLog();
    // Prometheus metrics, served at /metrics on the control listener(s) only.
    const metrics = new Metrics(pools);
    const previous = await deployments.load();
    // Scheduled jobs (jobs.ts): armed as each function with a schedule is deployed; stopped before the pools.
    const jobStore = new JobStore(stateDir);
    await jobStore.load((err) => log.warn(err.message));
    const jobs = new JobService({ pools, store: jobStore, log, idleTimeoutMs: config.pool.idleTimeoutMs });
    teardown.push(async () => jobs.close());
    const deployer = new Deployer({
      config,
      store,
      base: baseImage,
      pools,
      deployments,
      onRoutes: (name: string, r: RouteSpec[] | null) => {
        routes = routes.with(name, r);
        jobs.sync(name);
        onFunctionsChanged();
      },
      verify: verifyScheduledHandler,
    });

    metrics.instrument(deployer);
    // Every deploy and removal, whoever asked for it, for the web console (deploy-history.ts).
    const history = new DeployHistory(stateDir, (err) => log.warn(err.message));
    await history.load();
    history.instrument(deployer);
    // fnrun reload / SIGHUP: config.toml again, changed functions redeployed; a bad one changes nothing.
    const reload = async (): Promise<ReloadResult> => {
      try {
        const r = await reloadConfig({ configPath: opts.configPath, current: config, deployer });
        log.info(`reloaded ${config.path}`, { deployed: r.deployed.map((x) => x.name), removed: r.removed, failed: r.failed.map((x) => x.name), restartNeeded: r.restartNeeded });
        return r;
      } catch (err) {
        log.error(`reload refused, keeping the running config: ${(err as Error).message}`);
        throw err;
      }
    };
    // A changed secret reaches a function through a redeploy: new instances, old ones drain.
    const redeploy = async (name: string) => {
      const record = deployments.get(name);
      if (!record || !pools.definition(name)) return false;
      if (record.source) {
        // Deployed from an image (`deploy --image`): the same image again, from the store.
        const [r] = await redeployImages({ store, deployer, config }, [record], log);
        if ("error" in r) throw new Error(r.error);
      } else await deployer.deploy(deployer.configOf(name, record.dir));
      return true;
    };

    // The web console's page (`GET /`, console-assets.ts) before the API; on TCP it needs no token, its data does.
    const controlFetch = withConsole(withMetricsRoute(createControlApi({ deployer, deployments, invocations, pools, routes: () => routes, maxBodyBytes: config.gateway.maxBodyBytes, version: VERSION, images: { store, deployer, deployments, pools, config, base: baseImage, runc, rootfsPath: (d) => rootfsMount.pathOf(d) }, reload: () => reload(), jobs: () => jobs, secrets: { secrets, redeploy }, history }).fetch, metrics));
    const control = createAdaptorServer({ fetch: controlFetch }) as Server;
    await listenUnix(control, socketPath);
    teardown.push(async () => {
      const closed = closeServer(control);
      control.closeIdleConnections();
      setTimeout(() => control.closeAllConnections(), 2000).unref(); // `fnrun logs -f` never ends by itself
      await closed;
      await unlink(socketPath).catch(() => {});
    });
    // One-offs (`fnrun run`) are killed first (teardown runs in reverse): `runc run` would outlive the daemon.
    teardown.push(() => stopOneOffs());
    // The same API on TCP for a remote CLI, behind a bearer token (remote-control.ts).
    if (config.control.listen && config.control.tokenFile) {
      const remote = await startRemoteControl({ listen: config.control.listen, tokenFile: config.control.tokenFile, fetch: controlFetch, open: consoleAsset, log });
      teardown.push(() => remote.close());
      log.info(`control API listening on ${remote.url}`, { tokenFile: config.control.tokenFile });
    }

    // Functions of config.toml, then those deployed by the CLI in an earlier run.
    const dirs = new Map<string, string>();
    for (const fc of config.functions.values()) dirs.set(fc.name, fc.dir);
    // Functions deployed from an image (`deploy --image`) come back from the store (image-deploy.ts).
    const fromImages = previous.filter((r) => r.source && !dirs.has(r.name));
    for (const r of previous) if (!dirs.has(r.name) && !r.source) dirs.set(r.name, r.dir);
    for (const r of previous) if (dirs.get(r.name) !== r.dir && !fromImages.includes(r)) await deployments.delete(r.name);

    const deployed: Daemon["deployed"] = await Promise.all(
      // By name: two functions of config.toml may share a folder (the same code, other settings).
      [...dirs].map(async ([name, dir]) => {
        const fc = deployer.configOf(name, dir);
        try {
          const result = await deployer.deploy(fc);
          log.info(`deployed ${fc.name} (revision ${result.revision})`, { routes: result.routes.map((r) => `${r.method} ${r.path}`), ms: result.timings });
          return result;
        } catch (err) {
          log.error(`deploy ${fc.name} failed: ${(err as Error).message}`);
          return { name: fc.name, error: (err as Error).message };
        }
      }),
    );
    deployed.push(...(await redeployImages({ store, deployer, config }, fromImages, log)));

    // Stem cells start once the deploys are done, in the background: they never delay a request.
    pools.fillStemCells();

    const onInvocation = (record: InvocationRecord) => {
      invocations.add(record);
      metrics.record(record);
    };
    const onTimeout = timeoutLogger((fn, line) => logs.append(fn, line));
    const listen = opts.listen ?? config.gateway.listen;
    const listenError = (err: unknown) =>
      Object.assign(new Error(`gateway: cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}; set [gateway] listen to a free address`), { code: "FNRUN_LISTEN", kind: "user" });
    let addr: { address: string; port: number };
    if (config.gateway.workers > 1) {
      // The public listener in N processes; leases, logs and metrics stay here (workers/).
      const broker = new LeaseBroker({
        pools: { acquire: (n) => pools.acquire(n), tryAcquire: (n) => pools.tryAcquire(n), concurrencyOf: (n) => pools.definition(n)?.concurrency ?? 1 },
        onInvocation,
        onTimeout,
      });
      const functionInfo = (): Record<string, FunctionInfo> => {
        const out: Record<string, FunctionInfo> = {};
        for (const { name, revision } of pools.list()) {
          out[name] = { revision, timeoutMs: pools.definition(name)?.config.timeoutMs ?? config.defaults.timeoutMs, routes: [...routes.routesOf(name)] };
        }
        return out;
      };
      const workers = await GatewayWorkers.start({
        count: config.gateway.workers,
        setup: { host: listen.host, port: listen.port, maxBodyBytes: config.gateway.maxBodyBytes },
        broker,
        functions: functionInfo,
        log,
      }).catch((err) => {
        throw listenError(err);
      });
      onFunctionsChanged = () => workers.functionsChanged();
      workers.functionsChanged(); // deploys may have finished while the workers started
      teardown.push(() => workers.close());
      addr = { address: workers.address.host, port: workers.address.port };
    } else {
      const gateway = createPublicServer({
        routes: () => routes,
        maxBodyBytes: config.gateway.maxBodyBytes,
        onInvocation,
        invoker: {
          acquire: (name) => pools.acquire(name),
          tryAcquire: (name) => pools.tryAcquire(name),
          onTimeout,
          timeoutOf: (name) => pools.definition(name)?.config.timeoutMs ?? config.defaults.timeoutMs,
        },
      });
      await new Promise<void>((resolve, reject) => {
        gateway.once("error", reject);
        gateway.listen(listen.port, listen.host, () => resolve());
      }).catch((err) => {
        throw listenError(err);
      });
      teardown.push(async () => {
        gateway.closeIdleConnections();
        const closed = closeServer(gateway);
        setTimeout(() => gateway.closeAllConnections(), 5000).unref();
        await closed;
      });
      addr = gateway.address() as { address: string; port: number };
    }
    const url = `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`;
    log.info(`gateway listening on ${url}`, { control: socketPath, workers: config.gateway.workers });

    let closing: Promise<void> | null = null;
    let killing: Promise<void> | null = null;
    const kill = (why: string) =>
      (killing ??= (async () => {
        const { ids, errors } = await killLiveContainers();
        log.warn(`${why}: killed ${ids.length} containers by their cgroups`, { containers: ids });
        for (const e of errors) log.error(`shutdown: ${e}`);
        await unlink(socketPath).catch(() => {});
        await RootfsMount.release(stateDir).catch(() => {});
        await removeEmptyParents();
      })());
    return {
      reload,
      config,
      url,
      controlSocket: socketPath,
      deployed,
      close: ({ deadlineMs = SHUTDOWN_DEADLINE_MS } = {}) =>
        (closing ??= (async () => {
          let timer: NodeJS.Timeout | undefined;
          const expired = new Promise<boolean>((r) => (timer = setTimeout(r, deadlineMs, true)));
          const timedOut = await Promise.race([undo().then(() => false), expired]);
          clearTimeout(timer);
          if (timedOut) await kill(`shutdown did not finish within ${deadlineMs} ms`);
          else if (liveContainers().length > 0) await kill("containers left after shutdown");
          log.info("stopped");
        })()),
      kill: () => kill("forced stop"),
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

let instanceSeq = 0;
/** A short container id: the function's name, a sequence and a little randomness (no clash across restarts). */
function instanceId(name: string): string {
  return `${name.slice(0, 24)}-${(instanceSeq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function listenUnix(server: Server, path: string): Promise<void> {
  await unlink(path).catch(() => {});
  const oldMask = process.umask(0o177); // the socket is born 0600: no window where others can connect
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(path, 0o600);
}

/** Two daemons on one state directory would fight over containers: the second one stops. */
async function refuseSecondDaemon(socketPath: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(socketPath);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
  if (alive) {
    throw Object.assign(new Error(`another fnrun daemon is already running on ${socketPath}; stop it first, or give this one another [daemon] state_dir`), { code: "FNRUN_ALREADY_RUNNING", kind: "user" });
  }
}
