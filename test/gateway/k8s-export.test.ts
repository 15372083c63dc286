/**
 * `fnrun export k8s` objects (gateway/k8s/): every object of a config with several functions
 * (routes with params and wildcards, a scheduled function with a zone and overlap = "allow",
 * a cron-only function, env and secrets, min_instances 0 and > 0) validated offline against
 * the Kubernetes, Gateway API and Knative schemas of kubernetes-models (and type-checked
 * against their interfaces, which refuse unknown fields), in each mode; then what maps to what.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../gateway/config.ts";
import { exportK8s, K8sExportError, type DeployedFunction, type K8sExport, type K8sExportOptions, type K8sObject } from "../../gateway/k8s/index.ts";
import { analyzePath } from "../../gateway/k8s/paths.ts";
import { objectName } from "../../gateway/k8s/naming.ts";
import { bytesQuantity, cpuQuantity } from "../../gateway/k8s/quantities.ts";
import { assertValidObjects, typecheckObjects, validateWithSchema } from "./k8s-schema.ts";

const CONFIG = `
[functions.api]
dir = "functions/api"
routes = ["GET /users/:id", "POST /users", "/files/*", "GET /users/:id/posts"]
memory = "256MiB"
cpu = 1.5
min_instances = 2
max_instances = 8
concurrency = 4
timeout = "45s"
tmp = "32MiB"
env = { STAGE = "prod", API_TOKEN = "from-config" }

[functions.hello]
dir = "functions/hello"
routes = ["/hello", "GET /hello/:name"]

[functions.report]
dir = "functions/report"
schedule = "0 3 * * MON-FRI"
timezone = "Europe/Berlin"
overlap = "allow"
routes = []

[functions.tick]
dir = "functions/tick"
schedule = "*/5 * * * *"
routes = ["GET /tick"]

[functions.1st]
dir = "functions/first"
routes = ["/first/*"]
max_instances = 1
`;

const REGISTRY = "127.0.0.1:5000/fnrun";
const digestOf = (name: string) => `sha256:${Buffer.from(name.padEnd(32, "x")).toString("hex").slice(0, 64)}`;

function deployed(text = CONFIG, secrets: Record<string, string[]> = { api: ["API_TOKEN", "DB_URL"] }): DeployedFunction[] {
  const { config } = parseConfig(text, { root: "/srv/app" });
  return [...config.functions.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({ config: c, revision: `rev${c.name}`.padEnd(12, "0").slice(0, 12), digest: digestOf(c.name), secretKeys: secrets[c.name] ?? [] }));
}

function run(options: Partial<K8sExportOptions> = {}, fns = deployed()): K8sExport {
  return exportK8s(fns, [], { registry: REGISTRY, ...options }, "Asia/Tokyo");
}

const all = (e: K8sExport): K8sObject[] => e.files.flatMap((f) => f.objects);
function find<T = any>(e: K8sExport, kind: string, name: string, apiVersion?: string): T {
  const o = all(e).find((x) => x.kind === kind && x.metadata?.name === name && (!apiVersion || x.apiVersion === apiVersion));
  assert.ok(o, `${kind}/${name} in ${all(e).map((x) => `${x.kind}/${x.metadata?.name}`).join(", ")}`);
  return o as T;
}
const kinds = (e: K8sExport) => all(e).map((o) => `${o.apiVersion} ${o.kind}/${o.metadata?.name}`).sort();

describe("k8s export: every object validates against the schemas", () => {
  for (const mode of ["ingress", "httproute", "knative"] as const) {
    test(`--${mode === "knative" ? "knative" : `routes ${mode}`}: every emitted object passes kubernetes-models' validator and its type`, async () => {
      const e = run(mode === "knative" ? { knative: true, namespace: "prod" } : { routes: mode, namespace: "prod", hostname: "api.example.com", ...(mode === "ingress" ? { ingressClass: "nginx" } : { gateway: "infra/main" }) });
      const objects = all(e);
      assert.ok(objects.length >= (mode === "knative" ? 7 : 11), `${objects.length} objects`);
      await assertValidObjects(objects);
      // The YAML the CLI writes is these objects; every one names the namespace asked for.
      for (const o of objects) assert.equal(o.metadata?.namespace, "prod", `${o.kind}/${o.metadata?.name}`);
    });
  }

  test("the same checks refuse a broken object: a wrong type, a missing required field, an unknown field, an unknown kind", async () => {
    const e = run();
    const good = structuredClone(find(e, "Deployment", "api"));
    await validateWithSchema(good);
    const wrongType = structuredClone(good);
    wrongType.spec.template.spec.containers[0].resources.limits.memory = { bytes: 1 };
    await assert.rejects(validateWithSchema(wrongType), /resources\/limits\/memory must be/);
    const missing = structuredClone(good);
    delete missing.spec.selector;
    await assert.rejects(validateWithSchema(missing), /must have required property selector/);
    const cron = structuredClone(find(e, "CronJob", "report"));
    cron.spec.concurrencyPolicy = "Sometimes";
    await assert.rejects(validateWithSchema(cron), /concurrencyPolicy must be equal to one of the allowed values/);
    const unknown = structuredClone(good);
    unknown.spec.template.spec.containers[0].readOnlyRootFilesystem = true; // belongs in securityContext
    await validateWithSchema(unknown); // the OpenAPI schema lets it through…
    assert.match(typecheckObjects([good, unknown]).join("\n"), /^object 1 \(Deployment\/api\): .*'"readOnlyRootFilesystem"' does not exist in type 'IContainer'/m); // …the types do not
    await assert.rejects(validateWithSchema({ apiVersion: "apps/v2", kind: "Deployment" }), /no schema for apiVersion "apps\/v2"/);
    await assert.rejects(assertValidObjects([good, wrongType, unknown]), /invalid Kubernetes objects:\nobject 1 \(Deployment\): .*memory must be[^]*\nobject 2 \(Deployment\/api\): .*readOnlyRootFilesystem/);
  });
});

describe("k8s export: what maps to what", () => {
  test("Deployment: image by digest, requests = limits, env with FNRUN_ENV_KEYS and the Secret, probes, hardening, /tmp", () => {
    const e = run();
    const d = find(e, "Deployment", "api");
    const c = d.spec.template.spec.containers[0];
    assert.equal(c.image, `${REGISTRY}/api@${digestOf("api")}`);
    assert.deepEqual(c.resources, { requests: { cpu: "1500m", memory: "256Mi" }, limits: { cpu: "1500m", memory: "256Mi" } });
    assert.deepEqual(c.env, [
      { name: "PORT", value: "8080" },
      // The drain on SIGTERM waits for a request as long as the function's timeout.
      { name: "FNRUN_DRAIN_TIMEOUT", value: "45s" },
      { name: "FNRUN_ENV_KEYS", value: "API_TOKEN,DB_URL,STAGE" },
      { name: "STAGE", value: "prod" },
      // The secret wins over config.toml's API_TOKEN, as under fnrun.
      { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: "api-secrets", key: "API_TOKEN", optional: false } } },
      { name: "DB_URL", valueFrom: { secretKeyRef: { name: "api-secrets", key: "DB_URL", optional: false } } },
    ]);
    assert.deepEqual(c.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    for (const p of [c.startupProbe, c.readinessProbe, c.livenessProbe]) assert.deepEqual(p.httpGet, { path: "/__fnrun/health", port: "http" });
    assert.deepEqual(c.securityContext, {
      runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      privileged: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
    });
    const pod = d.spec.template.spec;
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.enableServiceLinks, false);
    assert.equal(pod.hostUsers, undefined);
    assert.equal(pod.terminationGracePeriodSeconds, 50, "45 s drain + 5");
    const hello = find(e, "Deployment", "hello").spec.template.spec;
    assert.deepEqual([hello.terminationGracePeriodSeconds, hello.containers[0].env[1]], [35, { name: "FNRUN_DRAIN_TIMEOUT", value: "30s" }]);
    assert.deepEqual(pod.volumes, [{ name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "32Mi" } }]);
    assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
    assert.deepEqual(d.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
    assert.equal(d.spec.template.metadata.labels["fnrun.dev/revision"], "revapi000000");
    assert.equal(run({ userNamespaces: true }).files.length, e.files.length);
    assert.equal(find(run({ userNamespaces: true }), "Deployment", "api").spec.template.spec.hostUsers, false);
  });

  test("Service and HPA: selector of the HTTP pods only; replicas from min/max_instances", () => {
    const e = run();
    const svc = find(e, "Service", "api", "v1");
    assert.deepEqual(svc.spec.selector, { "app.kubernetes.io/name": "api", "app.kubernetes.io/component": "http" });
    assert.deepEqual(svc.spec.ports, [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    // min 2, max 8: the HPA owns replicas, so the Deployment leaves them out.
    assert.deepEqual([find(e, "HorizontalPodAutoscaler", "api").spec.minReplicas, find(e, "HorizontalPodAutoscaler", "api").spec.maxReplicas], [2, 8]);
    assert.equal(find(e, "Deployment", "api").spec.replicas, undefined);
    assert.deepEqual(find(e, "HorizontalPodAutoscaler", "api").spec.metrics[0].resource.target, { type: "Utilization", averageUtilization: 70 });
    // min 0 → at least 1 (an HPA cannot scale to zero).
    assert.equal(find(e, "HorizontalPodAutoscaler", "hello").spec.minReplicas, 1);
    // max_instances 1: no room to scale, no HPA, a fixed replica; "1st" is not a Service name.
    assert.equal(find(e, "Deployment", "fn-1st").spec.replicas, 1);
    assert.ok(!all(e).some((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata?.name === "fn-1st"));
    // The CronJob's pods are never selected by the Service.
    assert.equal(find(e, "CronJob", "tick").spec.jobTemplate.spec.template.metadata.labels["app.kubernetes.io/component"], "scheduled");
  });

  test("CronJob: schedule, timeZone (the daemon's zone when unset), concurrencyPolicy from overlap, the run's env; cron-only gets nothing else", () => {
    const e = run();
    const report = find(e, "CronJob", "report");
    assert.equal(report.spec.schedule, "0 3 * * MON-FRI");
    assert.equal(report.spec.timeZone, "Europe/Berlin");
    assert.equal(report.spec.concurrencyPolicy, "Allow");
    const job = report.spec.jobTemplate.spec;
    assert.equal(job.backoffLimit, 0);
    assert.equal(job.activeDeadlineSeconds, 30 + 60);
    assert.equal(job.template.spec.restartPolicy, "Never");
    const c = job.template.spec.containers[0];
    assert.deepEqual(c.env.slice(0, 3), [{ name: "FNRUN_RUN", value: "scheduled" }, { name: "FNRUN_CRON", value: "0 3 * * MON-FRI" }, { name: "FNRUN_ENV_KEYS", value: "" }]);
    assert.equal(c.ports, undefined);
    assert.equal(c.readinessProbe, undefined);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(e.files.find((f) => f.path === "report.yaml")!.objects.map((o) => o.kind), ["CronJob"]);
    const tick = find(e, "CronJob", "tick");
    assert.deepEqual([tick.spec.timeZone, tick.spec.concurrencyPolicy], ["Asia/Tokyo", "Forbid"]);
    assert.deepEqual(e.files.find((f) => f.path === "tick.yaml")!.objects.map((o) => o.kind), ["Deployment", "Service", "HorizontalPodAutoscaler", "CronJob"]);
  });

  test("Ingress: static paths Exact, wildcards and :param paths Prefix of their static part, one path per clash-free function", () => {
    const e = run({ hostname: "fn.example.com", ingressClass: "nginx" });
    const ing = find(e, "Ingress", "fnrun");
    assert.equal(ing.spec.ingressClassName, "nginx");
    assert.equal(ing.spec.rules[0].host, "fn.example.com");
    const paths = ing.spec.rules[0].http.paths.map((p: any) => `${p.pathType} ${p.path} → ${p.backend.service.name}:${p.backend.service.port.number}`);
    assert.deepEqual(paths, [
      "Prefix /first → fn-1st:80",
      "Prefix /users → api:80", // GET /users/:id and GET /users/:id/posts
      "Exact /users → api:80",
      "Prefix /files → api:80",
      "Exact /hello → hello:80",
      "Prefix /hello → hello:80",
      "Exact /tick → tick:80",
    ]);
    assert.equal(e.files.find((f) => f.path === "ingress.yaml")?.objects.length, 1);
    assert.ok(!all(e).some((o) => o.kind === "HTTPRoute"));
  });

  test("HTTPRoute: methods (GET also HEAD), Exact, PathPrefix and RegularExpression for :param, attached to --gateway", () => {
    const e = run({ routes: "httproute", gateway: "infra/main", hostname: "fn.example.com" });
    const r = find(e, "HTTPRoute", "api");
    assert.deepEqual(r.spec.parentRefs, [{ name: "main", namespace: "infra" }]);
    assert.deepEqual(r.spec.hostnames, ["fn.example.com"]);
    assert.deepEqual(r.spec.rules[0].backendRefs, [{ name: "api", port: 80 }]);
    assert.deepEqual(r.spec.rules[0].matches, [
      { path: { type: "RegularExpression", value: "^/users/[^/]+$" }, method: "GET" },
      { path: { type: "RegularExpression", value: "^/users/[^/]+$" }, method: "HEAD" },
      { path: { type: "Exact", value: "/users" }, method: "POST" },
      { path: { type: "PathPrefix", value: "/files" } },
      { path: { type: "RegularExpression", value: "^/users/[^/]+/posts$" }, method: "GET" },
      { path: { type: "RegularExpression", value: "^/users/[^/]+/posts$" }, method: "HEAD" },
    ]);
    assert.deepEqual(find(e, "HTTPRoute", "hello").spec.parentRefs, [{ name: "main", namespace: "infra" }]);
    assert.deepEqual(run({ routes: "httproute" }).files.find((f) => f.path === "hello.yaml")!.objects.find((o) => o.kind === "HTTPRoute")!.spec, {
      parentRefs: [{ name: "fnrun" }],
      rules: [{ matches: [{ path: { type: "Exact", value: "/hello" } }, { path: { type: "RegularExpression", value: "^/hello/[^/]+$" }, method: "GET" }, { path: { type: "RegularExpression", value: "^/hello/[^/]+$" }, method: "HEAD" }], backendRefs: [{ name: "hello", port: 80 }] }],
    });
    assert.ok(!all(e).some((o) => o.kind === "Ingress"));
    assert.ok(!all(e).some((o) => o.kind === "HTTPRoute" && o.metadata?.name === "report"), "a cron-only function has no routes");
  });

  test("Knative: a Service per function, min/max-scale, containerConcurrency, timeoutSeconds; CronJobs stay", () => {
    const e = run({ knative: true });
    const k = find(e, "Service", "api", "serving.knative.dev/v1");
    const t = k.spec.template;
    assert.deepEqual(t.metadata.annotations, { "autoscaling.knative.dev/min-scale": "2", "autoscaling.knative.dev/max-scale": "8" });
    assert.equal(find(e, "Service", "hello", "serving.knative.dev/v1").spec.template.metadata.annotations["autoscaling.knative.dev/min-scale"], "0");
    assert.equal(t.spec.containerConcurrency, 4);
    assert.equal(t.spec.timeoutSeconds, 45);
    const c = t.spec.containers[0];
    assert.equal(c.image, `${REGISTRY}/api@${digestOf("api")}`);
    assert.deepEqual(c.ports, [{ name: "http1", containerPort: 8080, protocol: "TCP" }]);
    assert.ok(!c.env.some((v: { name: string }) => v.name === "PORT"), "Knative sets PORT itself");
    assert.deepEqual(c.readinessProbe.httpGet, { path: "/__fnrun/health", port: 8080 });
    assert.equal(c.startupProbe, undefined);
    assert.equal(c.securityContext.seccompProfile.type, "RuntimeDefault");
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal("privileged" in c.securityContext, false, "Knative's webhook refuses privileged");
    assert.equal(t.spec.securityContext, undefined, "pod-level securityContext needs a Knative feature flag");
    assert.deepEqual(kinds(e).filter((k) => !k.includes("serving.knative.dev")), ["batch/v1 CronJob/report", "batch/v1 CronJob/tick", "v1 Secret/api-secrets"]);
  });

  test("secrets: keys only, a template Secret apart from the manifests, and the kubectl command", () => {
    const e = run({ namespace: "prod" });
    const file = e.files.find((f) => f.path === "secrets/api-secrets.yaml")!;
    assert.equal(file.template, true);
    assert.equal(e.files.at(-1), file, "templates come last");
    assert.deepEqual(file.objects[0], {
      apiVersion: "v1", kind: "Secret", type: "Opaque",
      metadata: { name: "api-secrets", namespace: "prod", labels: { "app.kubernetes.io/name": "api", "app.kubernetes.io/managed-by": "fnrun" } },
      stringData: { API_TOKEN: "", DB_URL: "" },
    });
    assert.deepEqual(e.secrets, [{ function: "api", secret: "api-secrets", keys: ["API_TOKEN", "DB_URL"], command: "kubectl create secret generic api-secrets -n prod --from-literal=API_TOKEN=… --from-literal=DB_URL=…" }]);
  });

  test("errors name the function and the fix, all at once", () => {
    const bad = deployed(`${CONFIG}
[functions.fast]
dir = "functions/fast"
schedule = "*/10 * * * * *"
[functions.last]
dir = "functions/last"
schedule = "0 0 L * *"
[functions.sunday]
dir = "functions/sunday"
schedule = "0 9 * * 7"
`);
    let err: K8sExportError | undefined;
    try {
      exportK8s(bad, ["ghost"], { registry: REGISTRY }, "UTC");
    } catch (e) {
      err = e as K8sExportError;
    }
    assert.ok(err instanceof K8sExportError, String(err));
    assert.equal(err.code, "FNRUN_EXPORT_INVALID");
    assert.equal(err.kind, "user");
    assert.equal(err.problems.length, 4, err.message);
    assert.match(err.message, /function ghost of config\.toml is not deployed, so there is no image to run: deploy it \(`fnrun deploy DIR`/);
    assert.match(err.message, /functions\.fast\.schedule: "\*\/10 \* \* \* \* \*" has a seconds field; a Kubernetes CronJob runs at most once a minute/);
    assert.match(err.message, /functions\.last\.schedule: .*field "L" uses syntax a Kubernetes CronJob does not know/);
    assert.match(err.message, /functions\.sunday\.schedule: .*write Sunday as 0/);

    assert.throws(() => exportK8s(deployed(), [], {}, "UTC"), /--registry HOST\[:PORT\]\/PREFIX is required.*fnrun push --all/);
    assert.throws(() => exportK8s(deployed(), [], { registry: "127.0.0.1:5000/fnrun:v1" }, "UTC"), /--registry "127\.0\.0\.1:5000\/fnrun:v1": expected HOST\[:PORT\]\/PREFIX/);
    assert.throws(() => exportK8s(deployed(), [], { registry: "fnrun" }, "UTC"), /--registry "fnrun": expected/);
    assert.throws(() => run({ routes: "nginx" as "ingress" }), /--routes: expected ingress or httproute, got "nginx"/);
    assert.throws(() => run({ knative: true, routes: "httproute" }), /--routes does not apply with --knative/);
    assert.throws(() => run({ namespace: "Prod" }), /--namespace: expected a namespace name/);
    assert.throws(() => run({ gateway: "main" }), /--gateway goes with --routes httproute/);
  });

  test("--knative refuses env and secrets Knative sets itself (K_SERVICE, K_CONFIGURATION, K_REVISION), naming the fix", () => {
    const text = `[functions.kn]\ndir = "k"\nenv = { K_SERVICE = "mine" }\n`;
    const fns = deployed(text, { kn: ["K_REVISION"] });
    assert.throws(() => run({ knative: true }, fns), (err: Error) => {
      assert.match(err.message, /functions\.kn\.env\.K_SERVICE: Knative sets K_SERVICE in every container and refuses a Service that sets it; rename the variable/);
      assert.match(err.message, /functions\.kn: secret K_REVISION: .*fnrun secret rm kn K_REVISION/);
      return true;
    });
    assert.ok(run({}, fns), "a Deployment may set them");
  });

  test("two functions on one Ingress path are refused with the way out; as HTTPRoutes they are fine", () => {
    const text = `[functions.reader]\ndir = "r"\nroutes = ["GET /items/:id"]\n[functions.writer]\ndir = "w"\nroutes = ["PUT /items/:id"]\n`;
    assert.throws(() => run({}, deployed(text, {})), /functions reader and writer both map to the Ingress path Prefix \/items .*use --routes httproute/);
    const e = run({ routes: "httproute" }, deployed(text, {}));
    assert.deepEqual(find(e, "HTTPRoute", "writer").spec.rules[0].matches, [{ path: { type: "RegularExpression", value: "^/items/[^/]+$" }, method: "PUT" }]);
  });

  test("env as the kubelet reads it: every `$` doubled (no $(VAR) expansion, no $$ → $); a function's own PORT is where its pods listen", () => {
    const text = `[functions.shop]\ndir = "s"\nroutes = ["/shop"]\nenv = { PRICE = "$$5 or $(PORT)", PORT = "9090" }\n[functions.cron]\ndir = "c"\nroutes = []\nschedule = "0 3 * * *"\nenv = { PORT = "80" }\n`;
    const e = run({}, deployed(text, {}));
    const c = find(e, "Deployment", "shop").spec.template.spec.containers[0];
    assert.deepEqual(c.env, [
      { name: "PORT", value: "9090" },
      { name: "FNRUN_DRAIN_TIMEOUT", value: "30s" },
      { name: "FNRUN_ENV_KEYS", value: "PORT,PRICE" },
      { name: "PRICE", value: "$$$$5 or $$(PORT)" },
    ]);
    assert.deepEqual(c.ports, [{ name: "http", containerPort: 9090, protocol: "TCP" }]);
    assert.equal(c.readinessProbe.httpGet.port, "http");
    // A CronJob's pod listens nowhere: its PORT is only the function's.
    assert.ok(find(e, "CronJob", "cron").spec.jobTemplate.spec.template.spec.containers[0].env.some((v: any) => v.name === "PORT" && v.value === "80"));
    const k = find(run({ knative: true }, deployed(text, {})), "Service", "shop", "serving.knative.dev/v1").spec.template.spec.containers[0];
    assert.deepEqual(k.ports, [{ name: "http1", containerPort: 9090, protocol: "TCP" }]);
    assert.equal(k.readinessProbe.httpGet.port, 9090);
    assert.ok(!k.env.some((v: any) => v.name === "PORT"), "Knative sets PORT from the container port");
    assert.equal(k.env.find((v: any) => v.name === "FNRUN_ENV_KEYS").value, "PORT,PRICE");

    const bad = `[functions.low]\ndir = "l"\nenv = { PORT = "80" }\n[functions.word]\ndir = "w"\nenv = { PORT = "http" }\n[functions.hidden]\ndir = "h"\n`;
    assert.throws(() => run({}, deployed(bad, { hidden: ["PORT"] })), (err: K8sExportError) => {
      assert.deepEqual(err.problems, [
        "functions.hidden: secret PORT: outside fnrun the image's bootstrap listens on $PORT, so its pods would listen on the secret's value, which the export never sees, while their probes and Service use the container port; keep it under another name (`fnrun secret rm hidden PORT`, then `fnrun secret set hidden NAME`)",
        `functions.low.env.PORT: "80": outside fnrun the image's bootstrap listens on $PORT, so the pods would listen there; set a port number from 1024 to 65535 (the container port, probes and Service follow it) or rename the variable`,
        `functions.word.env.PORT: "http": outside fnrun the image's bootstrap listens on $PORT, so the pods would listen there; set a port number from 1024 to 65535 (the container port, probes and Service follow it) or rename the variable`,
      ]);
      return true;
    });
  });

  test("paths, names and quantities", () => {
    assert.deepEqual(analyzePath("/"), { kind: "exact", value: "/", regex: "^/$" });
    assert.deepEqual(analyzePath("/*"), { kind: "prefix", value: "/", regex: "^/.*$" });
    assert.deepEqual(analyzePath("/a.b/*"), { kind: "prefix", value: "/a.b", regex: "^/a\\.b(/.*)?$" });
    assert.deepEqual(analyzePath("/u/:id/*"), { kind: "pattern", value: "/u", regex: "^/u/[^/]+(/.*)?$" });
    assert.deepEqual(analyzePath("/:any"), { kind: "pattern", value: "/", regex: "^/[^/]+$" });
    for (const [path, yes, no] of [["/u/:id/*", ["/u/1", "/u/1/", "/u/1/a/b"], ["/u", "/u/", "/v/1"]], ["/a.b/*", ["/a.b", "/a.b/c"], ["/aXb"]]] as const) {
      const re = new RegExp(analyzePath(path).regex);
      for (const p of yes) assert.ok(re.test(p), `${path} matches ${p}`);
      for (const p of no) assert.ok(!re.test(p), `${path} does not match ${p}`);
    }
    assert.deepEqual(["hello", "1st", "a-", "x".repeat(40)].map(objectName), ["hello", "fn-1st", "fn-a-0", "x".repeat(40)]);
    assert.deepEqual([64 * 2 ** 20, 2 ** 30, 1536 * 1024, 1000].map(bytesQuantity), ["64Mi", "1Gi", "1536Ki", "1000"]);
    assert.deepEqual([0.5, 1.5, 2, 0.01, 0.0004].map(cpuQuantity), ["500m", "1500m", "2", "10m", "1m"]);
  });
});
