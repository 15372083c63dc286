/**
 * @module test/helpers/kubelet
 * Runs the pods of `fnrun export k8s` the way a kubelet with containerd and runc would, where
 * no cluster is: the image pulled by the reference the manifest names (skopeo, from a registry
 * on loopback) and unpacked (umoci), the pod's sandbox a network namespace made here, its
 * emptyDirs made on the host (a tmpfs of sizeLimit for medium Memory), the container started by
 * `runc run` from kubeletSpec(), probes sent from inside the sandbox to 127.0.0.1, and a pod
 * deletion done as the kubelet does it: preStop, the image's StopSignal, SIGKILL when the grace
 * period runs out. Everything a pod made (runc state, cgroups, tmpfs, netns, files) goes in
 * teardown(), which close() calls for every pod still there.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container";
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from "kubernetes-models/v1/PodSpec";
import type { IIoK8sApiCoreV1Probe as Probe } from "kubernetes-models/v1/Probe";
import { removeCgroups } from "../../runtime/cgroup.ts";
import { containerPort, kubeletSpec, quantityBytes, type ImageConfig, type Secrets } from "./kubelet-spec.ts";
import { curl, CurlError, type Answer } from "./portable-image.ts";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PulledImage {
  ref: string;
  /** The manifest digest skopeo stored: the bytes the registry served for `ref`. */
  digest: string;
  config: ImageConfig;
  rootfs: string;
}

export interface RunningPod {
  id: string;
  name: string;
  pod: PodSpec;
  container: Container;
  image: PulledImage;
  /** `ip netns exec NETNS`: a command run inside the pod's sandbox. */
  inSandbox: string[];
  child: ChildProcess;
  /** The container's exit code (runc's, which is the container's; 128+N for signal N). */
  exited: Promise<number>;
  log(): Promise<string>;
}

export interface StopResult {
  code: number;
  /** The grace period ran out and the container got SIGKILL. */
  killed: boolean;
  signal: string;
}

export class Kubelet {
  readonly runcRoot: string;
  readonly #dir: string;
  readonly #tag = randomBytes(3).toString("hex");
  readonly #pods = new Map<string, { pod: RunningPod; dir: string; netns: string; tmpfs: string[] }>();
  readonly #images = new Map<string, Promise<PulledImage>>();
  #seq = 0;
  #base: Promise<any> | undefined;

  /** `dir`: a temp dir of the test's own; runc's state goes to `dir`/runc. */
  constructor(dir: string) {
    this.#dir = dir;
    this.runcRoot = join(dir, "runc");
  }

  /** The prefix of every runc id, cgroup and netns name of this kubelet's pods. */
  get idPrefix(): string {
    return `k8s-${this.#tag}-`;
  }

  /** `skopeo copy` of `ref` exactly as written (insecure: the test's registry is plain HTTP), then `umoci raw unpack`. */
  pull(ref: string): Promise<PulledImage> {
    let p = this.#images.get(ref);
    if (!p) {
      p = this.#pull(ref);
      this.#images.set(ref, p);
    }
    return p;
  }

  async #pull(ref: string): Promise<PulledImage> {
    const name = `image-${this.#images.size}`;
    const layout = join(this.#dir, name);
    // --preserve-digests: fail rather than store a converted manifest under another digest.
    await run("skopeo", ["copy", "--quiet", "--preserve-digests", "--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:image`]);
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
    const { stdout } = await run("skopeo", ["inspect", "--config", `oci:${layout}:image`]);
    const rootfs = join(this.#dir, `${name}-rootfs`);
    await run("umoci", ["raw", "unpack", "--image", `${layout}:image`, rootfs]);
    return { ref, digest: index.manifests[0].digest, config: JSON.parse(stdout).config, rootfs };
  }

  /** Starts the pod's one container, `runc run` in the foreground of a child process; logs go to a file, as the CRI's do. */
  async start(podName: string, pod: PodSpec, secrets: Secrets): Promise<RunningPod> {
    assert.equal(pod.containers.length, 1, "one container per pod");
    assert.equal(pod.initContainers, undefined, "init containers are not modelled");
    const container = pod.containers[0];
    const image = await this.pull(container.image!);
    const id = `${this.idPrefix}${this.#seq++}`;
    const dir = join(this.#dir, id);
    const netns = id;
    const entry = { pod: undefined as unknown as RunningPod, dir, netns, tmpfs: [] as string[] };
    this.#pods.set(id, entry);
    await mkdir(join(dir, "volumes"), { recursive: true });
    await run("ip", ["netns", "add", netns]);
    await run("ip", ["netns", "exec", netns, "ip", "link", "set", "lo", "up"]);

    const volumes = new Map<string, string>();
    for (const v of pod.volumes ?? []) {
      if (!v.emptyDir) continue;
      const path = join(dir, "volumes", v.name);
      await mkdir(path);
      await chmod(path, 0o777); // the kubelet's emptyDir mode
      if (v.emptyDir.medium === "Memory") {
        // SizeMemoryBackedVolumes: the tmpfs gets size = sizeLimit (the pod's memory otherwise).
        assert.ok(v.emptyDir.sizeLimit !== undefined, `emptyDir ${v.name}: a Memory emptyDir without sizeLimit is not modelled`);
        await run("mount", ["-t", "tmpfs", "-o", `size=${quantityBytes(v.emptyDir.sizeLimit)}`, "tmpfs", path]);
        entry.tmpfs.push(path);
      }
      volumes.set(v.name, path);
    }
    const files = { hosts: join(dir, "hosts"), hostname: join(dir, "hostname"), resolvConf: join(dir, "resolv.conf"), terminationLog: join(dir, "termination-log"), volumes };
    // No pod IP here (the sandbox has lo only): the pod's name is on loopback.
    await writeFile(files.hosts, `# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t${podName}\n`);
    await writeFile(files.hostname, `${podName}\n`);
    await writeFile(files.resolvConf, "nameserver 127.0.0.1\noptions ndots:5\n");
    await writeFile(files.terminationLog, "");

    this.#base ??= (async () => {
      const b = join(this.#dir, "runc-spec-defaults");
      await mkdir(b, { recursive: true });
      await run("runc", ["spec", "--bundle", b]);
      return JSON.parse(await readFile(join(b, "config.json"), "utf8"));
    })();
    const spec = kubeletSpec({
      base: await this.#base, image: image.config, pod, container, secrets, rootfs: image.rootfs, podName,
      netnsPath: `/var/run/netns/${netns}`, cgroupsPath: `/fnrun/${id}`, files,
    });
    const bundle = join(dir, "bundle");
    await mkdir(bundle);
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec, null, 2));
    const logPath = join(dir, "container.log");
    // A file, not a pipe: the container's writes neither block nor fail whoever reads (FACTS.md).
    const fd = openSync(logPath, "a");
    const child = spawn("runc", ["--root", this.runcRoot, "run", "--bundle", bundle, id], { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    const exited = new Promise<number>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : -2))));
    entry.pod = { id, name: podName, pod, container, image, inSandbox: ["ip", "netns", "exec", netns], child, exited, log: () => readFile(logPath, "utf8") };
    return entry.pod;
  }

  /** One httpGet probe as the kubelet sends it (here to 127.0.0.1 in the sandbox): the answer, or curl's error. */
  probe(p: RunningPod, probe: Probe): Promise<Answer | CurlError> {
    const get = probe.httpGet;
    assert.ok(get, "only httpGet probes are modelled");
    assert.ok((get.scheme ?? "HTTP") === "HTTP" && get.host === undefined, "only HTTP probes to the pod's own address are modelled");
    const headers: Record<string, string> = { "user-agent": "kube-probe/1.30", accept: "*/*" };
    for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
    const port = containerPort(p.container, get.port);
    return curl(p.inSandbox, `http://127.0.0.1:${port}`, { path: get.path ?? "/", headers }, probe.timeoutSeconds ?? 1).catch((err: CurlError) => err);
  }

  /** Polls the startup probe (the readiness probe without one) at its period until it succeeds; fails with the log when it cannot. */
  async started(p: RunningPod): Promise<void> {
    const probe = p.container.startupProbe ?? p.container.readinessProbe;
    assert.ok(probe, "a serving container has a startup or readiness probe");
    let exitCode: number | undefined;
    void p.exited.then((c) => (exitCode = c));
    await sleep((probe.initialDelaySeconds ?? 0) * 1000);
    for (let attempt = 1; ; attempt++) {
      if (exitCode !== undefined) assert.fail(`pod ${p.name} exited (${exitCode}) before its probe succeeded:\n${await p.log()}`);
      const a = await this.probe(p, probe);
      if (!(a instanceof Error) && a.status >= 200 && a.status < 400) return;
      if (attempt >= (probe.failureThreshold ?? 3)) assert.fail(`pod ${p.name}: probe failed ${attempt} times (${a instanceof Error ? a.message : a.status}):\n${await p.log()}`);
      await sleep((probe.periodSeconds ?? 10) * 1000);
    }
  }

  /** A pod deletion: preStop, then the image's StopSignal (SIGTERM by default), SIGKILL once terminationGracePeriodSeconds is over. */
  async stop(p: RunningPod): Promise<StopResult> {
    const deadline = Date.now() + (p.pod.terminationGracePeriodSeconds ?? 30) * 1000;
    const preStop = p.container.lifecycle?.preStop;
    if (preStop?.exec) await run("runc", ["--root", this.runcRoot, "exec", p.id, ...preStop.exec.command!], { timeout: Math.max(1, deadline - Date.now()) });
    else if (preStop?.httpGet) await this.probe(p, { httpGet: preStop.httpGet, timeoutSeconds: Math.max(1, Math.floor((deadline - Date.now()) / 1000)) });
    else if (preStop?.sleep) await sleep(Math.min(preStop.sleep.seconds * 1000, deadline - Date.now()));
    else assert.equal(preStop, undefined, `preStop ${JSON.stringify(preStop)} is not modelled`);
    const signal = p.image.config.StopSignal ?? "SIGTERM";
    await run("runc", ["--root", this.runcRoot, "kill", p.id, signal.replace(/^SIG/, "")]);
    const code = await Promise.race([p.exited, sleep(Math.max(0, deadline - Date.now())).then(() => undefined)]);
    if (code !== undefined) return { code, killed: false, signal };
    await run("runc", ["--root", this.runcRoot, "kill", p.id, "KILL"]).catch(() => {});
    return { code: await p.exited, killed: true, signal };
  }

  /** Waits for a run-to-completion pod (a Job's) to exit, killing it at activeDeadlineSeconds as the Job controller would. */
  async completed(p: RunningPod, activeDeadlineSeconds: number): Promise<{ code: number; deadlineExceeded: boolean }> {
    const code = await Promise.race([p.exited, sleep(activeDeadlineSeconds * 1000).then(() => undefined)]);
    if (code !== undefined) return { code, deadlineExceeded: false };
    await run("runc", ["--root", this.runcRoot, "kill", p.id, "KILL"]).catch(() => {});
    return { code: await p.exited, deadlineExceeded: true };
  }

  /** Removes what the pod made: its container (killed if still running), cgroups, tmpfs, netns and files. */
  async teardown(id: string): Promise<void> {
    const e = this.#pods.get(id);
    if (!e) return;
    const p = e.pod as RunningPod | undefined;
    if (p && p.child.exitCode === null && p.child.signalCode === null) {
      await run("runc", ["--root", this.runcRoot, "kill", id, "KILL"]).catch(() => {});
      await Promise.race([p.exited, sleep(5000)]);
    }
    await run("runc", ["--root", this.runcRoot, "delete", "-f", id]).catch(() => {});
    await removeCgroups(id).catch(() => {});
    for (const path of e.tmpfs) await run("umount", [path]).catch(() => {});
    await run("ip", ["netns", "del", e.netns]).catch(() => {});
    await rm(e.dir, { recursive: true, force: true });
    this.#pods.delete(id);
  }

  /** Tears down every pod still there. */
  async close(): Promise<void> {
    for (const id of [...this.#pods.keys()]) await this.teardown(id);
  }
}
