/**
 * @module gateway/k8s/pod
 * The container and pod of a function, shared by its Deployment, CronJob and Knative
 * Service: the image pinned by digest, the env the function sees under fnrun, its memory and
 * CPU as requests = limits, a memory-backed /tmp of its `tmp` size, probes on the image's
 * health endpoint, and fnrun's hardening as far as Kubernetes expresses it.
 *
 * The image contract (runtime/bootstrap): outside fnrun the bootstrap listens on TCP
 * 0.0.0.0:$PORT (8080), answers `GET /__fnrun/health` with 200 once the function is loaded,
 * gives the function the env keys listed in FNRUN_ENV_KEYS, drains on SIGTERM, and with
 * FNRUN_RUN=scheduled runs scheduled() once and exits (0 only when it resolved).
 */
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container";
import type { IIoK8sApiCoreV1EnvVar as EnvVar } from "kubernetes-models/v1/EnvVar";
import type { IIoK8sApiCoreV1PodSecurityContext as PodSecurityContext } from "kubernetes-models/v1/PodSecurityContext";
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from "kubernetes-models/v1/PodSpec";
import type { IIoK8sApiCoreV1Probe as Probe } from "kubernetes-models/v1/Probe";
import type { IIoK8sApiCoreV1SecurityContext as SecurityContext } from "kubernetes-models/v1/SecurityContext";
import type { IIoK8sApiCoreV1Volume as Volume } from "kubernetes-models/v1/Volume";
import { FUNCTION_GID, FUNCTION_UID } from "../../builder/index.ts";
import { HEALTH_PATH } from "../../runtime/bootstrap/reserved-paths.ts";
import type { FunctionConfig } from "../config.ts";
import { secretName } from "./naming.ts";
import { bytesQuantity, cpuQuantity, seconds } from "./quantities.ts";

export const PORT = 8080;
export const CONTAINER_NAME = "function";
const TMP_VOLUME = "tmp";
/** The bootstrap's default drain on SIGTERM (runtime/bootstrap/drain.ts). */
const DEFAULT_DRAIN_SECONDS = 25;

/**
 * How long a pod drains on SIGTERM: a request may run for the function's `timeout`, so the
 * drain waits that long (at least the bootstrap's 25 s default); FNRUN_DRAIN_TIMEOUT says so.
 */
export function drainSeconds(config: FunctionConfig): number {
  return Math.max(DEFAULT_DRAIN_SECONDS, seconds(config.timeoutMs));
}

/** FNRUN_DRAIN_TIMEOUT for a serving container. */
export function drainEnv(config: FunctionConfig): EnvVar {
  return { name: "FNRUN_DRAIN_TIMEOUT", value: `${drainSeconds(config)}s` };
}

/** A deployed function as the exporter sees it. */
export interface ExportedFunction {
  config: FunctionConfig;
  /** The revision deployed, and the manifest digest of its image (sha256:…). */
  revision: string;
  digest: string;
  /** Keys of its secrets (`fnrun secret ls`); values never leave the daemon. */
  secretKeys: string[];
  /** REGISTRY/NAME@sha256:… */
  image: string;
}

/**
 * A literal env value as Kubernetes must be given it: the kubelet expands `$(NAME)` in an env
 * `value` (to an earlier variable's value, PORT's for instance) and turns `$$` into `$`
 * (kubernetes/kubernetes third_party/forked/golang/expansion), while fnrun passes values as
 * written. Doubling every `$` makes the expansion give the value back unchanged. Values read
 * from a Secret (`valueFrom`) are never expanded.
 */
export function literalEnvValue(value: string): string {
  return value.replaceAll("$", () => "$$"); // a function: in a replacement string "$$" means "$"
}

/**
 * The port a serving pod listens on. Outside fnrun the bootstrap listens on $PORT, the variable
 * the function also reads in `env`: a function whose config.toml env sets PORT keeps its value
 * (so `env` holds what it holds under fnrun) and its pods listen there, the container port,
 * probes and Service following by the port's name; else 8080, the image's EXPOSE.
 * listenPortProblem() refuses a PORT that cannot be a listen port.
 */
export function listenPort(config: FunctionConfig): number {
  return config.env.PORT !== undefined ? Number(config.env.PORT) : PORT;
}

/**
 * Why a serving function's PORT cannot be its pods' listen port, or null. At least 1024: the
 * container runs as uid 1000 without capabilities, and a lower port needs CAP_NET_BIND_SERVICE
 * (or a runtime that lowers net.ipv4.ip_unprivileged_port_start, which not every one does).
 */
export function listenPortProblem(fn: Pick<ExportedFunction, "config" | "secretKeys">): string | null {
  const name = fn.config.name;
  if (fn.secretKeys.includes("PORT")) {
    return `functions.${name}: secret PORT: outside fnrun the image's bootstrap listens on $PORT, so its pods would listen on the secret's value, which the export never sees, while their probes and Service use the container port; keep it under another name (\`fnrun secret rm ${name} PORT\`, then \`fnrun secret set ${name} NAME\`)`;
  }
  const v = fn.config.env.PORT;
  if (v === undefined || (/^[1-9][0-9]{3,4}$/.test(v) && Number(v) <= 65535)) return null;
  return `functions.${name}.env.PORT: ${JSON.stringify(v)}: outside fnrun the image's bootstrap listens on $PORT, so the pods would listen there; set a port number from 1024 to 65535 (the container port, probes and Service follow it) or rename the variable`;
}

/**
 * The env of the function: config.toml's env, its secrets from the Secret (a secret overrides
 * an env key of the same name, as under fnrun), FNRUN_ENV_KEYS listing exactly those keys
 * (the function's `env` argument), then `extra` (PORT, FNRUN_RUN …). A config key that `extra`
 * sets (PORT = its own value, see listenPort) or that the platform sets itself (`platformSet`:
 * Knative's PORT) is not written twice, but stays in FNRUN_ENV_KEYS.
 */
export function functionEnv(fn: ExportedFunction, extra: EnvVar[], platformSet: string[] = []): EnvVar[] {
  const secrets = new Set(fn.secretKeys);
  const given = new Set([...extra.map((e) => e.name), ...platformSet]);
  const keys = [...new Set([...Object.keys(fn.config.env), ...fn.secretKeys])].sort();
  const plain = Object.keys(fn.config.env).filter((k) => !secrets.has(k) && !given.has(k)).sort();
  return [
    ...extra,
    { name: "FNRUN_ENV_KEYS", value: keys.join(",") },
    ...plain.map((name): EnvVar => ({ name, value: literalEnvValue(fn.config.env[name]) })),
    // optional: false — a pod whose Secret is missing does not start (CreateContainerConfigError)
    // rather than running with the key absent.
    ...[...secrets].sort().map((key): EnvVar => ({ name: key, valueFrom: { secretKeyRef: { name: secretName(fn.config.name), key, optional: false } } })),
  ];
}

/** Requests = limits: the pod gets exactly fnrun's hard limits, and Guaranteed QoS. */
export function resources(config: FunctionConfig): NonNullable<Container["resources"]> {
  const amounts = { cpu: cpuQuantity(config.cpu), memory: bytesQuantity(config.memoryBytes) };
  return { requests: { ...amounts }, limits: { ...amounts } };
}

/** What fnrun's runc spec does, as far as a container's securityContext can say it. */
export function containerSecurityContext(): SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: FUNCTION_UID,
    runAsGroup: FUNCTION_GID,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

export function podSecurityContext(): PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: FUNCTION_UID, runAsGroup: FUNCTION_GID, seccompProfile: { type: "RuntimeDefault" } };
}

/**
 * /tmp as a tmpfs of the function's `tmp` size (emptyDir, medium Memory): the rootfs is
 * read-only, as under fnrun, and like fnrun's tmpfs its pages count against the memory limit.
 */
export function tmpVolume(config: FunctionConfig): Volume {
  return { name: TMP_VOLUME, emptyDir: { medium: "Memory", sizeLimit: bytesQuantity(config.tmpBytes) } };
}

function probe(port: number | string, overrides: Partial<Probe>): Probe {
  return { httpGet: { path: HEALTH_PATH, port }, timeoutSeconds: 2, ...overrides };
}

/** Startup (up to 60 s for the import), readiness and liveness on the image's health endpoint. */
export function probes(port: number | string, withStartup: boolean): Pick<Container, "startupProbe" | "readinessProbe" | "livenessProbe"> {
  return {
    ...(withStartup ? { startupProbe: probe(port, { periodSeconds: 1, failureThreshold: 60 }) } : {}),
    readinessProbe: probe(port, { periodSeconds: 5, failureThreshold: 2 }),
    // A function busy with CPU work answers late: three misses 10 s apart before a restart.
    livenessProbe: probe(port, { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 }),
  };
}

/** The function's container; `extra` holds what its use adds (ports, probes). */
export function functionContainer(fn: ExportedFunction, env: EnvVar[], extra: Partial<Container>): Container {
  return {
    name: CONTAINER_NAME,
    image: fn.image,
    imagePullPolicy: "IfNotPresent",
    ...extra,
    env,
    resources: resources(fn.config),
    securityContext: containerSecurityContext(),
    volumeMounts: [{ name: TMP_VOLUME, mountPath: "/tmp" }],
  };
}

export interface PodOptions {
  /** `hostUsers: false`: a user namespace per pod, as fnrun gives each container (needs node support). */
  userNamespaces?: boolean;
}

/**
 * A pod spec around one function container: no service account token and no service links
 * (the function sees only its own env, as under fnrun), and a grace period that outlasts the
 * bootstrap's drain (which waits for the function's timeout) by 5 s.
 */
export function functionPod(fn: ExportedFunction, container: Container, opts: PodOptions, extra: Partial<PodSpec> = {}): PodSpec {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    ...(opts.userNamespaces ? { hostUsers: false } : {}),
    securityContext: podSecurityContext(),
    terminationGracePeriodSeconds: drainSeconds(fn.config) + 5,
    ...extra,
    containers: [container],
    volumes: [tmpVolume(fn.config)],
  };
}
