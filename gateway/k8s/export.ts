/**
 * @module gateway/k8s/export
 * `fnrun export k8s`: deployed functions (their config.toml settings, the manifest digest of
 * the deployed revision's image, their secret keys) → Kubernetes objects, grouped in files:
 *
 *   NAME.yaml                    per function: Deployment + Service (+ HPA) (+ HTTPRoute),
 *                                or a Knative Service (--knative); + CronJob when scheduled
 *   ingress.yaml                 every function's routes (--routes ingress, the default)
 *   secrets/NAME-secrets.yaml    per function with secrets: a Secret to fill in (secret.ts)
 *
 * Every problem (options, schedules, clashes, names) is collected and thrown at once.
 */
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { ICronJob } from "kubernetes-models/batch/v1/CronJob";
import type { IIngress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IService } from "kubernetes-models/v1/Service";
import type { IHTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import type { IService as IKnativeService } from "@kubernetes-models/knative/serving.knative.dev/v1/Service";
import type { FunctionConfig } from "../config.ts";
import { cronJob, cronJobScheduleProblem } from "./cronjob.ts";
import { deployment } from "./deployment.ts";
import { K8sExportError } from "./errors.ts";
import { hpa, needsHpa } from "./hpa.ts";
import { httpRoute } from "./httproute.ts";
import { ingress } from "./ingress.ts";
import { knativeService } from "./knative.ts";
import { checkRegistry, imageRef, objectName, secretName } from "./naming.ts";
import { listenPortProblem, type ExportedFunction } from "./pod.ts";
import { createSecretCommand, secretTemplate } from "./secret.ts";
import { service } from "./service.ts";

export type K8sObject = IDeployment | IService | IHorizontalPodAutoscaler | IIngress | IHTTPRoute | ICronJob | IKnativeService | ISecret;

/** A deployed function: what the daemon knows of it. */
export interface DeployedFunction {
  config: FunctionConfig;
  revision: string;
  digest: string;
  secretKeys: string[];
}

export interface K8sExportOptions {
  /** HOST[:PORT][/PREFIX] the images were pushed to (`fnrun push --all`). */
  registry?: string;
  routes?: "ingress" | "httproute";
  knative?: boolean;
  namespace?: string;
  hostname?: string;
  ingressClass?: string;
  /** The Gateway HTTPRoutes attach to: NAME or NAMESPACE/NAME (default "fnrun"). */
  gateway?: string;
  userNamespaces?: boolean;
}

export interface ExportFile {
  /** Relative to the output folder. */
  path: string;
  /** Comment lines (without "# ") for the top of the file. */
  header: string[];
  objects: K8sObject[];
  /** A template to fill in before applying (a Secret), kept out of stdout and of `kubectl apply -f DIR`. */
  template?: boolean;
}

export interface K8sExport {
  files: ExportFile[];
  functions: Array<{ name: string; revision: string; image: string; objects: string[] }>;
  secrets: Array<{ function: string; secret: string; keys: string[]; command: string }>;
}

export const DEFAULT_GATEWAY = "fnrun";
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether a function gets pods that serve HTTP (a scheduled one with `routes = []` gets only its CronJob). */
function serves(config: FunctionConfig): boolean {
  return config.routes.length > 0 || !config.schedule;
}

/** Problems with the options alone (no functions needed). */
export function optionProblems(o: K8sExportOptions): string[] {
  const p: string[] = [];
  if (!o.registry) {
    p.push("--registry HOST[:PORT]/PREFIX is required: the cluster pulls each function's image from a registry. Push them with `fnrun push --all HOST[:PORT]/PREFIX`, then export with the same --registry");
  } else {
    try {
      checkRegistry(o.registry);
    } catch (err) {
      p.push((err as Error).message);
    }
  }
  if (o.routes !== undefined && o.routes !== "ingress" && o.routes !== "httproute") p.push(`--routes: expected ingress or httproute, got ${JSON.stringify(o.routes)}`);
  if (o.knative && o.routes !== undefined) p.push("--routes does not apply with --knative: Knative routes each function by its own host name");
  if (o.knative && o.ingressClass) p.push("--ingress-class does not apply with --knative");
  if (o.ingressClass && o.routes === "httproute") p.push("--ingress-class goes with --routes ingress; an HTTPRoute attaches to --gateway");
  if (o.gateway && o.routes !== "httproute") p.push("--gateway goes with --routes httproute");
  if (o.namespace !== undefined && (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.namespace) || o.namespace.length > 63)) {
    p.push(`--namespace: expected a namespace name (lowercase letters, digits, "-"), got ${JSON.stringify(o.namespace)}`);
  }
  if (o.hostname !== undefined && (!HOSTNAME.test(o.hostname) || o.hostname.length > 253)) p.push(`--hostname: expected a DNS name like api.example.com or *.example.com, got ${JSON.stringify(o.hostname)}`);
  if (o.ingressClass !== undefined && !DNS1123_SUBDOMAIN.test(o.ingressClass)) p.push(`--ingress-class: expected an IngressClass name, got ${JSON.stringify(o.ingressClass)}`);
  if (o.gateway !== undefined) {
    const parts = o.gateway.split("/");
    if (parts.length > 2 || !parts.every((x) => DNS1123_SUBDOMAIN.test(x))) p.push(`--gateway: expected NAME or NAMESPACE/NAME of a Gateway, got ${JSON.stringify(o.gateway)}`);
  }
  return p;
}

/** Env names Knative sets in every container itself; its webhook refuses a Service that sets them. */
const KNATIVE_RESERVED = ["K_SERVICE", "K_CONFIGURATION", "K_REVISION"];

function knativeEnvProblems(d: DeployedFunction): string[] {
  const name = d.config.name;
  return KNATIVE_RESERVED.flatMap((k) => {
    if (d.config.env[k] !== undefined) return [`functions.${name}.env.${k}: Knative sets ${k} in every container and refuses a Service that sets it; rename the variable (or export without --knative)`];
    if (d.secretKeys.includes(k)) return [`functions.${name}: secret ${k}: Knative sets ${k} in every container and refuses a Service that sets it; keep it under another name (\`fnrun secret rm ${name} ${k}\`, then \`fnrun secret set ${name} NAME\`)`];
    return [];
  });
}

/**
 * The objects for `deployed` (sorted by name). `notDeployed`: functions config.toml names that
 * the daemon has no revision of. `defaultTimezone`: the daemon's zone, for schedules without one.
 */
export function exportK8s(deployed: DeployedFunction[], notDeployed: string[], options: K8sExportOptions, defaultTimezone: string): K8sExport {
  const problems = optionProblems(options);
  if (notDeployed.length > 0) {
    problems.push(`${notDeployed.length === 1 ? "function" : "functions"} ${notDeployed.join(", ")} of config.toml ${notDeployed.length === 1 ? "is" : "are"} not deployed, so there is no image to run: deploy ${notDeployed.length === 1 ? "it" : "them"} (\`fnrun deploy DIR\`, or \`fnrun reload\` / \`fnrun up\`), push (\`fnrun push --all\`), then export`);
  }
  const names = new Map<string, string>();
  for (const d of deployed) {
    const k = objectName(d.config.name);
    const other = names.get(k);
    if (other) problems.push(`functions ${other} and ${d.config.name} would both be named ${k} in Kubernetes (names must start with a letter); rename one`);
    names.set(k, d.config.name);
    if (d.config.schedule) {
      const why = cronJobScheduleProblem(d.config.schedule);
      if (why) problems.push(`functions.${d.config.name}.schedule: ${why}`);
    }
    if (serves(d.config)) {
      const why = listenPortProblem(d);
      if (why) problems.push(why);
      if (options.knative) problems.push(...knativeEnvProblems(d));
    }
  }
  if (problems.length > 0) throw new K8sExportError(problems);

  const registry = checkRegistry(options.registry!);
  const routes = options.routes ?? "ingress";
  const ns = options.namespace;
  const gw = (options.gateway ?? DEFAULT_GATEWAY).split("/");
  const gateway = gw.length === 2 ? { namespace: gw[0], name: gw[1] } : { name: gw[0] };
  const headPaths = new Set(deployed.flatMap((d) => d.config.routes.filter((r) => r.method === "HEAD").map((r) => r.path)));
  const out: K8sExport = { files: [], functions: [], secrets: [] };

  for (const d of deployed) {
    const name = d.config.name;
    const fn: ExportedFunction = { ...d, image: imageRef(registry, name, d.digest) };
    const objects: K8sObject[] = [];
    if (serves(d.config) && options.knative) objects.push(knativeService(fn, { namespace: ns }));
    else if (serves(d.config)) {
      const scaled = needsHpa(d.config);
      objects.push(deployment(fn, { namespace: ns, autoscaled: scaled, userNamespaces: options.userNamespaces }), service(name, ns));
      if (scaled) objects.push(hpa(d.config, ns));
      if (routes === "httproute") {
        const r = httpRoute(d.config, { namespace: ns, hostname: options.hostname, gateway, headPaths });
        problems.push(...r.problems);
        if (r.object) objects.push(r.object);
      }
    }
    if (d.config.schedule) objects.push(cronJob(fn, { namespace: ns, defaultTimezone, userNamespaces: options.userNamespaces }));
    const header = [`fnrun export k8s: function ${name}, revision ${d.revision}`, `image ${fn.image} (pushed by \`fnrun push --all ${registry}\`)`];
    if (d.secretKeys.length > 0) {
      const command = createSecretCommand(name, d.secretKeys, ns);
      header.push(`secrets ${d.secretKeys.join(", ")} come from Secret ${secretName(name)}: fill in secrets/${secretName(name)}.yaml and apply it, or run`, `  ${command}`);
      out.secrets.push({ function: name, secret: secretName(name), keys: d.secretKeys, command });
      out.files.push({
        path: `secrets/${secretName(name)}.yaml`,
        header: [`The secrets of function ${name}: fill in each value, then \`kubectl apply -f\` this file once.`, "fnrun never exports a secret's value; pods of the function wait until this Secret exists."],
        objects: [secretTemplate(name, d.secretKeys, ns)],
        template: true,
      });
    }
    out.files.push({ path: `${name}.yaml`, header, objects });
    out.functions.push({ name, revision: d.revision, image: fn.image, objects: objects.map((o) => `${o.kind}/${o.metadata?.name}`) });
  }
  if (!options.knative && routes === "ingress") {
    const r = ingress(deployed.map((d) => d.config), { namespace: ns, hostname: options.hostname, ingressClass: options.ingressClass });
    problems.push(...r.problems);
    if (r.object) out.files.push({ path: "ingress.yaml", header: ["fnrun export k8s: the routes of every function (paths only: an Ingress matches no methods)"], objects: [r.object] });
  }
  if (problems.length > 0) throw new K8sExportError(problems);
  // Templates last, so `kubectl apply -f DIR` order and stdout read the manifests first.
  out.files.sort((a, b) => Number(Boolean(a.template)) - Number(Boolean(b.template)));
  return out;
}
