/**
 * @module test/helpers/kubelet-spec
 * The runc spec a kubelet (with containerd's CRI plugin) and runc give one container of a pod,
 * by Kubernetes' rules, for the fields `fnrun export k8s` writes. What this does not model
 * throws with the field named, so a manifest that starts using it fails the test instead of
 * running as something it is not.
 *
 * - env: containerd's default PATH, HOSTNAME = the pod's name, the image's Env, then the
 *   container's env (later names replace earlier ones). A literal `value` goes through
 *   Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion: `$$` → `$`, `$(NAME)` →
 *   an earlier env value or the `kubernetes` Service's variables, which the kubelet sets even
 *   with enableServiceLinks false); a `secretKeyRef` is read from the Secret as it is, never
 *   expanded.
 * - args: command ?? the image's Entrypoint, then args ?? the image's Cmd (when command is set
 *   the image's Cmd is dropped), each expanded; cwd: workingDir ?? the image's WorkingDir.
 * - user: runAsUser / runAsGroup (container over pod, else the image's User); runAsNonRoot
 *   refuses uid 0 as the kubelet does (CreateContainerConfigError).
 * - readOnlyRootFilesystem → a read-only root; capabilities drop ALL → every set empty;
 *   allowPrivilegeEscalation false → noNewPrivileges.
 * - volumeMounts of an emptyDir → a bind mount (rbind, rprivate) of the pod's volume dir, which
 *   the caller made (a tmpfs for medium Memory); /etc/hosts, /etc/hostname, /etc/resolv.conf
 *   (read-only when the root is) and /dev/termination-log bind-mounted as the kubelet does.
 * - resources.limits memory → memory limit; cpu → CFS quota per 100 ms period; requests.cpu →
 *   cpu shares (milli × 1024 / 1000, at least 2).
 * - seccompProfile RuntimeDefault is not applied: it is containerd's profile, which is not on
 *   this machine (runc has no default of its own).
 */
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container";
import type { IIoK8sApiCoreV1EnvVar as EnvVar } from "kubernetes-models/v1/EnvVar";
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from "kubernetes-models/v1/PodSpec";

/** The `config` of an OCI image config (what `skopeo inspect --config` shows under .config). */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, object>;
}

/** Secret name → key → value: what the cluster's Secret objects would hold. */
export type Secrets = Record<string, Record<string, string>>;

/** containerd's default PATH (oci.defaultUnixEnv), before the image's Env. */
const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CFS_PERIOD_US = 100_000;

/**
 * The variables of the `kubernetes` Service in namespace default, which the kubelet gives every
 * container. Only their names matter here (a `$(KUBERNETES_…)` reference resolves); the
 * addresses are loopback so nothing in the test could aim at another address.
 */
export const MASTER_SERVICE_ENV: Record<string, string> = {
  KUBERNETES_SERVICE_HOST: "127.0.0.1",
  KUBERNETES_SERVICE_PORT: "443",
  KUBERNETES_SERVICE_PORT_HTTPS: "443",
  KUBERNETES_PORT: "tcp://127.0.0.1:443",
  KUBERNETES_PORT_443_TCP: "tcp://127.0.0.1:443",
  KUBERNETES_PORT_443_TCP_PROTO: "tcp",
  KUBERNETES_PORT_443_TCP_PORT: "443",
  KUBERNETES_PORT_443_TCP_ADDR: "127.0.0.1",
};

/** Kubernetes' `$(VAR)` expansion of a value, with `lookup` giving a defined variable's value. */
export function expandK8s(input: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== "$" || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === "$") out += "$"; // an escaped operator
    else if (next === "(") {
      const close = input.indexOf(")", cursor + 2);
      if (close < 0) out += "$(";
      else {
        const name = input.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close - cursor;
      }
    } else out += `$${next}`;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/** The container's env as the kubelet makes it (makeEnvironmentVariables), in its order. */
export function kubeletEnv(container: Container, secrets: Secrets): Array<[string, string]> {
  if (container.envFrom?.length) throw new Error("kubelet-spec: envFrom is not modelled");
  const env = new Map<string, string>();
  const lookup = (name: string) => env.get(name) ?? MASTER_SERVICE_ENV[name];
  for (const v of container.env ?? []) env.set(v.name, valueOf(v, secrets, lookup));
  const out = [...env.entries()];
  for (const [k, v] of Object.entries(MASTER_SERVICE_ENV)) if (!env.has(k)) out.push([k, v]);
  return out;
}

function valueOf(v: EnvVar, secrets: Secrets, lookup: (name: string) => string | undefined): string {
  if (!v.valueFrom) return expandK8s(v.value ?? "", lookup);
  const ref = v.valueFrom.secretKeyRef;
  if (!ref || Object.keys(v.valueFrom).length !== 1) throw new Error(`kubelet-spec: env ${v.name}: only secretKeyRef is modelled, got ${JSON.stringify(v.valueFrom)}`);
  const value = secrets[ref.name ?? ""]?.[ref.key];
  if (value === undefined && ref.optional !== true) {
    // What the kubelet reports as CreateContainerConfigError: the pod does not start.
    throw new Error(`kubelet-spec: env ${v.name}: secret "${ref.name}" has no key "${ref.key}" (CreateContainerConfigError)`);
  }
  return value ?? "";
}

/** A quantity as bytes ("64Mi", "1Gi", "1536Ki", "134217728"); the forms bytesQuantity writes, and SI k/M/G. */
export function quantityBytes(q: string | number): number {
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
  if (!m) throw new Error(`kubelet-spec: quantity ${JSON.stringify(q)} is not modelled`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

/** A CPU quantity as millicores ("500m", "1", "0.5"). */
export function quantityMillicores(q: string | number): number {
  const s = String(q);
  if (/^\d+m$/.test(s)) return Number(s.slice(0, -1));
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  throw new Error(`kubelet-spec: cpu quantity ${JSON.stringify(q)} is not modelled`);
}

/** The container's port number for `port` (a number, or the name of one of its ports), as probes and Services resolve it. */
export function containerPort(container: Container, port: number | string): number {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = container.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`container ${container.name} has no port named ${JSON.stringify(port)} (ports: ${JSON.stringify(container.ports ?? [])})`);
  return p.containerPort;
}

/** Where the kubelet's per-pod files are on the host, made by the caller. */
export interface PodFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
  terminationLog: string;
  /** Volume name → the host dir of that emptyDir. */
  volumes: Map<string, string>;
}

export interface SpecInput {
  /** `runc spec`'s defaults: namespaces, the standard mounts, masked and read-only paths. */
  base: any;
  image: ImageConfig;
  pod: PodSpec;
  container: Container;
  secrets: Secrets;
  rootfs: string;
  podName: string;
  netnsPath: string;
  cgroupsPath: string;
  files: PodFiles;
}

/** The uid and gid the container runs as (securityContext, container over pod, else the image's User). */
export function runAs(pod: PodSpec, container: Container, image: ImageConfig): { uid: number; gid: number; nonRoot: boolean } {
  const [imageUser, imageGroup] = (image.User ?? "0:0").split(":");
  const sc = container.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  const uid = sc.runAsUser ?? psc.runAsUser ?? (/^\d+$/.test(imageUser || "0") ? Number(imageUser || 0) : NaN);
  const gid = sc.runAsGroup ?? psc.runAsGroup ?? (/^\d+$/.test(imageGroup ?? "0") ? Number(imageGroup ?? 0) : NaN);
  if (Number.isNaN(uid) || Number.isNaN(gid)) throw new Error(`kubelet-spec: a non-numeric image user ${JSON.stringify(image.User)} is not modelled`);
  const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot ?? false;
  if (nonRoot && uid === 0) throw new Error(`container ${container.name}: runAsNonRoot and the image will run as root (CreateContainerConfigError)`);
  return { uid, gid, nonRoot };
}

/** The runc spec of `container` in `pod`. */
export function kubeletSpec(i: SpecInput): any {
  const { container: c, pod, image } = i;
  const sc = c.securityContext ?? {};
  if (sc.privileged) throw new Error("kubelet-spec: privileged is not modelled");
  const drop = sc.capabilities?.drop ?? [];
  if (!drop.includes("ALL")) throw new Error(`kubelet-spec: capabilities other than drop ALL are not modelled, got ${JSON.stringify(sc.capabilities)}`);
  const caps = (sc.capabilities?.add ?? []).map((cap) => `CAP_${cap}`);
  const { uid, gid } = runAs(pod, c, image);

  const containerEnv = kubeletEnv(c, i.secrets);
  const env = new Map<string, string>();
  for (const kv of [DEFAULT_PATH, `HOSTNAME=${i.podName}`, ...(image.Env ?? [])]) env.set(kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1));
  for (const [k, v] of containerEnv) env.set(k, v);
  const lookup = (name: string) => new Map(containerEnv).get(name);
  const args = [...(c.command ?? image.Entrypoint ?? []), ...(c.args ?? (c.command ? [] : image.Cmd ?? []))].map((a) => expandK8s(a, lookup));
  if (args.length === 0) throw new Error(`container ${c.name}: no command: the image has no Entrypoint or Cmd and the container sets none`);

  const readOnly = sc.readOnlyRootFilesystem === true;
  const volumeMounts = (c.volumeMounts ?? []).map((m) => {
    const vol = pod.volumes?.find((v) => v.name === m.name);
    if (!vol?.emptyDir || Object.keys(vol).length !== 2) throw new Error(`kubelet-spec: volume ${m.name}: only emptyDir is modelled`);
    if (m.subPath || m.subPathExpr || m.mountPropagation) throw new Error(`kubelet-spec: volumeMount ${m.name}: subPath and propagation are not modelled`);
    const source = i.files.volumes.get(m.name);
    if (!source) throw new Error(`kubelet-spec: the caller made no dir for volume ${m.name}`);
    return { destination: m.mountPath, type: "bind", source, options: ["rbind", "rprivate", m.readOnly ? "ro" : "rw"] };
  });
  const podFiles = [
    { destination: "/etc/hosts", source: i.files.hosts, ro: readOnly },
    { destination: "/etc/hostname", source: i.files.hostname, ro: readOnly },
    { destination: "/etc/resolv.conf", source: i.files.resolvConf, ro: readOnly },
    { destination: c.terminationMessagePath ?? "/dev/termination-log", source: i.files.terminationLog, ro: false },
  ].map((f) => ({ destination: f.destination, type: "bind", source: f.source, options: ["rbind", "rprivate", f.ro ? "ro" : "rw"] }));
  const taken = new Set([...volumeMounts, ...podFiles].map((m) => m.destination));

  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  const resources: any = { ...i.base.linux.resources };
  if (limits.memory !== undefined) resources.memory = { limit: quantityBytes(limits.memory) };
  const cpuLimit = limits.cpu !== undefined ? quantityMillicores(limits.cpu) : undefined;
  const cpuRequest = requests.cpu !== undefined ? quantityMillicores(requests.cpu) : cpuLimit;
  resources.cpu = {
    shares: Math.max(2, Math.floor(((cpuRequest ?? 0) * 1024) / 1000)),
    ...(cpuLimit !== undefined ? { quota: Math.max(1000, Math.floor((cpuLimit * CFS_PERIOD_US) / 1000)), period: CFS_PERIOD_US } : {}),
  };

  return {
    ...i.base,
    root: { path: i.rootfs, readonly: readOnly },
    hostname: i.podName,
    process: {
      ...i.base.process,
      terminal: false,
      user: { uid, gid, additionalGids: [gid] },
      args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: c.workingDir ?? (image.WorkingDir || "/"),
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps },
      noNewPrivileges: sc.allowPrivilegeEscalation === false,
    },
    mounts: [...i.base.mounts.filter((m: { destination: string }) => !taken.has(m.destination)), ...podFiles, ...volumeMounts],
    linux: {
      ...i.base.linux,
      cgroupsPath: i.cgroupsPath,
      resources,
      namespaces: i.base.linux.namespaces.map((n: { type: string }) => (n.type === "network" ? { type: "network", path: i.netnsPath } : n)),
    },
  };
}
