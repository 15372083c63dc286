/**
 * What `fnrun export k8s` writes runs the image it names: the pods of the exported Deployment
 * and CronJobs are run the way a kubelet with containerd and runc would run them
 * (test/helpers/kubelet.ts; no cluster is reachable here). A real daemon deploys `echo` (routes,
 * env, a secret, a schedule), `porty` (the same code with its own PORT in env) and `boom` (a
 * schedule whose scheduled() throws); `push --all` sends them to docker-registry on 127.0.0.1;
 * `export k8s -o DIR` writes the manifests, which are read back as YAML. Then, from the
 * manifests alone (plus the Secret filled in as a user would):
 *
 * - the Deployment's pod: the image pulled by the reference written (its digest the one pushed),
 *   its startup, readiness and liveness probes answer 200 on their path and port, a request on
 *   an Ingress path through the Service's targetPort answers exactly as fnrun's gateway answers
 *   it, `env` holds the config env and the secret as under fnrun (values with `$` unchanged),
 *   the kernel shows the securityContext (uid/gid, no capabilities, no_new_privs, read-only root,
 *   a tmpfs /tmp of sizeLimit), and a pod deletion (SIGTERM after preStop) lets the request in
 *   flight finish and exits 0 within terminationGracePeriodSeconds; `porty`'s pod listens on its
 *   own PORT and its probes and Service follow;
 * - the CronJobs' pods: `echo` runs scheduled() once with the same env and exits 0, `boom`
 *   exits 1 (the Job counts it failed), each within activeDeadlineSeconds.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { startRegistry, type RegistryServer } from "../builder/registry-server.ts";
import { ROOT, startDaemonProcess, type CliResult, type DaemonProcess } from "../helpers/daemon-process.ts";
import { containerPort, quantityBytes, type Secrets } from "../helpers/kubelet-spec.ts";
import { Kubelet, type RunningPod } from "../helpers/kubelet.ts";
import { leftovers } from "../helpers/leftovers.ts";
import { comparable, curl, CURL_COULDNT_CONNECT, CurlError, header, type Answer, type CurlRequest } from "../helpers/portable-image.ts";

const run = promisify(execFile);
const ECHO = join(ROOT, "test/fixtures/k8s/echo");
const BOOM = join(ROOT, "test/fixtures/jobs/boom");
const SECRET = "k8s-runs-s3cret-$(PORT)-$$-9d2f";
/** A value Kubernetes would rewrite if written as it is: `$$` → `$`, `$(PORT)` → 8080. */
const PRICE = "$$5 or $(PORT)";

const CONFIG = `
[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 0

[functions.echo]
dir = "${ECHO}"
routes = ["GET /echo", "GET /echo/:what"]
env = { STAGE = "k8s", PRICE = "${PRICE}", API_TOKEN = "config-value-the-secret-replaces" }
schedule = "0 3 * * *"
timezone = "UTC"
tmp = "8MiB"
timeout = "10s"

[functions.porty]
dir = "${ECHO}"
routes = ["GET /porty", "GET /porty/:what"]
env = { PORT = "9090" }

[functions.boom]
dir = "${BOOM}"
schedule = "30 4 * * *"
routes = []
`;

/** What `env` holds under fnrun: the config env, the secret replacing the config's API_TOKEN. */
const EXPECTED_ENV = { API_TOKEN: SECRET, PRICE, STAGE: "k8s" };

function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function objectsIn(file: string): Promise<any[]> {
  return parseAllDocuments(await readFile(file, "utf8")).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file} parses`);
    return doc.toJS();
  });
}

/** Whether an Ingress path (Exact or Prefix, matched per path element) takes `path`. */
function ingressMatches(p: { path: string; pathType: string }, path: string): boolean {
  if (p.pathType === "Exact") return p.path === path;
  const prefix = p.path.replace(/\/$/, "");
  return path === prefix || path.startsWith(`${prefix}/`);
}

describe("the pods of fnrun export k8s, run as a kubelet runs them (runc)", { timeout: 600_000 }, () => {
  let registry: RegistryServer;
  let d: DaemonProcess;
  let dir: string;
  let kubelet: Kubelet;
  const pushed = new Map<string, string>();
  const objects: any[] = [];
  let secrets: Secrets;
  const find = (kind: string, name: string) => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(o, `${kind}/${name} in the export`);
    return o;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fnrun-k8s-runs-"));
    kubelet = new Kubelet(dir);
    registry = await startRegistry();
    d = await startDaemonProcess(CONFIG);
    ok(await d.cli(["secret", "set", "echo", "API_TOKEN"], { input: `${SECRET}\n` }), "secret set");
    const json = JSON.parse(ok(await d.cli(["push", "--all", `${registry.host}/fnrun`, "--insecure", "--json"]), "push --all")) as Array<{ name: string; digest: string }>;
    for (const r of json) pushed.set(r.name, r.digest);
    const out = join(dir, "k8s");
    ok(await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`, "-o", out]), "export k8s");
    for (const f of ["echo.yaml", "porty.yaml", "boom.yaml", "ingress.yaml"]) objects.push(...(await objectsIn(join(out, f))));
    // The Secret template filled in, as a user does before `kubectl apply -f k8s/secrets/`.
    const [template] = await objectsIn(join(out, "secrets/echo-secrets.yaml"));
    assert.deepEqual(template.stringData, { API_TOKEN: "" });
    secrets = { [template.metadata.name]: { ...template.stringData, API_TOKEN: SECRET } };
  });

  after(async () => {
    await kubelet?.close();
    await d?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("every pod names its function's image by the digest push --all printed, and the registry serves exactly those bytes", async () => {
    const pods = [
      find("Deployment", "echo").spec.template.spec, find("Deployment", "porty").spec.template.spec,
      find("CronJob", "echo").spec.jobTemplate.spec.template.spec, find("CronJob", "boom").spec.jobTemplate.spec.template.spec,
    ];
    for (const pod of pods) {
      const ref: string = pod.containers[0].image;
      const m = new RegExp(`^${registry.host.replace(/\./g, "\\.")}/fnrun/(echo|porty|boom)@(sha256:[0-9a-f]{64})$`).exec(ref);
      assert.ok(m, ref);
      assert.equal(m[2], pushed.get(m[1]));
      assert.equal((await kubelet.pull(ref)).digest, m[2], `${ref}: skopeo stored the manifest it was asked for`);
    }
  });

  describe("the Deployment's pod", () => {
    let pod: RunningPod;
    let deployment: any;
    let c: any;

    before(async () => {
      deployment = find("Deployment", "echo");
      c = deployment.spec.template.spec.containers[0];
      pod = await kubelet.start(`${deployment.metadata.name}-7c9d5bf8d-x2kq4`, deployment.spec.template.spec, secrets);
      await kubelet.started(pod);
    });
    // The pod goes when this group ends, as a deletion does, whether or not its tests passed.
    after(() => (pod ? kubelet.teardown(pod.id) : undefined));

    test("its readiness and liveness probes answer 200 on their httpGet path and port", async () => {
      for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const probe = c[kind];
        assert.ok(probe?.httpGet, `${kind} is an httpGet probe`);
        const a = await kubelet.probe(pod, probe);
        assert.ok(!(a instanceof Error), `${kind} ${probe.httpGet.path} on ${JSON.stringify(probe.httpGet.port)}: ${a instanceof Error ? a.message : ""}\n${await pod.log()}`);
        assert.deepEqual([a.status, a.body], [200, '{"ok":true}'], kind);
      }
      const port = containerPort(c, c.readinessProbe.httpGet.port);
      assert.match(await pod.log(), new RegExp(`^fnrun: listening on http://0\\.0\\.0\\.0:${port} \\(function /app/index\\.mjs\\)$`, "m"), "the bootstrap listens where the probes look");
    });

    test("a request on an Ingress path, through the Service's targetPort, answers as fnrun's gateway answers it", async () => {
      const svc = find("Service", "echo");
      const paths = find("Ingress", "fnrun").spec.rules[0].http.paths.filter((p: any) => p.backend.service.name === svc.metadata.name);
      assert.ok(paths.length > 0, "the Ingress sends some path to the Service");
      const svcPort = svc.spec.ports.find((p: any) => p.port === paths[0].backend.service.port.number);
      assert.ok(svcPort, "the Ingress backend's port is one of the Service's");
      const podPort = containerPort(c, svcPort.targetPort);
      const cases: CurlRequest[] = [{ path: "/echo" }, { path: "/echo/env" }, { path: "/echo/nope" }];
      const viaFnrun: Answer[] = [];
      for (const req of cases) {
        assert.ok(paths.some((p: any) => ingressMatches(p, req.path)), `an Ingress path takes ${req.path}`);
        const [a, b] = [await curl([], d.url, req), await curl(pod.inSandbox, `http://127.0.0.1:${podPort}`, req)];
        viaFnrun.push(a);
        assert.deepEqual(comparable(b), comparable(a), req.path);
      }
      assert.deepEqual([viaFnrun[0].status, viaFnrun[0].body, header(viaFnrun[0], "x-echo")], [200, "hello from echo\n", "yes"]);
      assert.equal(viaFnrun[2].status, 404);
    });

    test("env: the config env and the secret as under fnrun (the secret replaces the config's key; `$` kept as written)", async () => {
      const b = await curl(pod.inSandbox, `http://127.0.0.1:${containerPort(c, "http")}`, { path: "/echo/env" });
      assert.deepEqual(JSON.parse(b.body), EXPECTED_ENV);
      const keys = c.env.find((e: any) => e.name === "FNRUN_ENV_KEYS")?.value;
      assert.equal(keys, "API_TOKEN,PRICE,STAGE", "the manifest lists the function's keys for the bootstrap");
    });

    test("the kernel shows the securityContext: its uid/gid (not root), no capabilities, no_new_privs, a read-only root and a tmpfs /tmp of sizeLimit", async () => {
      const sc = c.securityContext;
      assert.equal(sc.runAsNonRoot, true);
      assert.notEqual(sc.runAsUser, 0, "runAsNonRoot holds: the uid is not 0");
      const w = JSON.parse((await curl(pod.inSandbox, `http://127.0.0.1:${containerPort(c, "http")}`, { path: "/echo/whoami" })).body);
      assert.deepEqual([w.uid, w.gid, w.groups], [sc.runAsUser, sc.runAsGroup, [sc.runAsGroup]]);
      assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
      for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) assert.equal(w.status[set], "0000000000000000", set);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.equal(w.status.NoNewPrivs, "1");
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.deepEqual(w.write, { "/tmp": "ok", "/app": "EROFS", "/": "EROFS" });
      const mount = c.volumeMounts.find((m: any) => m.mountPath === "/tmp");
      const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
      assert.equal(volume.emptyDir.medium, "Memory");
      assert.deepEqual(w.tmp, { tmpfs: true, bytes: quantityBytes(volume.emptyDir.sizeLimit) });
      assert.equal(quantityBytes(volume.emptyDir.sizeLimit), 8 * 1024 * 1024, "sizeLimit is the function's tmp");
      assert.equal(w.cwd, "/app");
    });

    test("a pod deletion: SIGTERM (after preStop, if any) lets the request in flight finish, and the container exits 0 within the grace period", async () => {
      const port = containerPort(c, "http");
      const drain = c.env.find((e: any) => e.name === "FNRUN_DRAIN_TIMEOUT").value as string;
      assert.match(drain, /^\d+s$/);
      assert.ok(Number.parseInt(drain) < deployment.spec.template.spec.terminationGracePeriodSeconds, "the drain ends inside the grace period");
      const slow = curl(pod.inSandbox, `http://127.0.0.1:${port}`, { path: "/echo/slow?ms=1500" }, 30);
      for (let i = 0; !/^echo: slow request started/m.test(await pod.log()); i++) {
        if (i > 500) assert.fail(`the slow request never started:\n${await pod.log()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const stopping = kubelet.stop(pod);
      // Once draining, the readiness probe fails, so the endpoints drop the pod.
      let unready: Answer | CurlError | undefined;
      for (let i = 0; !unready; i++) {
        const a = await kubelet.probe(pod, c.readinessProbe);
        if ((a instanceof CurlError && a.exitCode === CURL_COULDNT_CONNECT) || (!(a instanceof Error) && a.status === 503)) unready = a;
        else if (i > 200) assert.fail("the readiness probe still succeeded after SIGTERM");
        else await new Promise((r) => setTimeout(r, 10));
      }
      const answer = await slow;
      assert.deepEqual([answer.status, answer.body], [200, "slow done\n"]);
      const stopped = await stopping;
      assert.deepEqual(stopped, { code: 0, killed: false, signal: "SIGTERM" }, await pod.log());
      const log = await pod.log();
      assert.match(log, new RegExp(`^fnrun: SIGTERM: stopped accepting connections; draining 1 request\\(s\\) in flight \\(up to ${drain}, FNRUN_DRAIN_TIMEOUT\\)$`, "m"));
      assert.match(log, /^fnrun: drained; exiting$/m);
    });
  });

  test("a function whose env sets PORT: its pod listens there, and the probes, the Service and `env` agree with it", async (t) => {
    const deployment = find("Deployment", "porty");
    const c = deployment.spec.template.spec.containers[0];
    const pod = await kubelet.start(`${deployment.metadata.name}-5d8f7c9b4-m3zq8`, deployment.spec.template.spec, secrets);
    t.after(() => kubelet.teardown(pod.id));
    await kubelet.started(pod);
    for (const kind of ["readinessProbe", "livenessProbe"]) {
      const a = await kubelet.probe(pod, c[kind]);
      assert.ok(!(a instanceof Error) && a.status === 200, `${kind}: ${a instanceof Error ? a.message : a.status}`);
    }
    assert.match(await pod.log(), /^fnrun: listening on http:\/\/0\.0\.0\.0:9090 /m);
    const svc = find("Service", "porty");
    const req = { path: "/porty/env" };
    const [a, b] = [await curl([], d.url, req), await curl(pod.inSandbox, `http://127.0.0.1:${containerPort(c, svc.spec.ports[0].targetPort)}`, req)];
    assert.deepEqual(comparable(b), comparable(a));
    assert.deepEqual(JSON.parse(a.body), { PORT: "9090" }, "the function's own PORT, as under fnrun");
    assert.deepEqual(await kubelet.stop(pod), { code: 0, killed: false, signal: "SIGTERM" });
  });

  describe("the CronJobs' pods (FNRUN_RUN=scheduled)", () => {
    async function runJob(name: string): Promise<{ code: number; log: string; cron: any }> {
      const cron = find("CronJob", name);
      const job = cron.spec.jobTemplate.spec;
      assert.equal(job.template.spec.restartPolicy, "Never");
      assert.equal(job.backoffLimit, 0, "one failed pod fails the Job");
      const env = job.template.spec.containers[0].env;
      assert.deepEqual(env.slice(0, 2), [{ name: "FNRUN_RUN", value: "scheduled" }, { name: "FNRUN_CRON", value: cron.spec.schedule }]);
      const pod = await kubelet.start(`${name}-28999800-k7x2p`, job.template.spec, secrets);
      try {
        const r = await kubelet.completed(pod, job.activeDeadlineSeconds);
        assert.equal(r.deadlineExceeded, false, `${name}: ran past activeDeadlineSeconds (${job.activeDeadlineSeconds}):\n${await pod.log()}`);
        return { code: r.code, log: await pod.log(), cron };
      } finally {
        await kubelet.teardown(pod.id);
      }
    }

    test("echo: scheduled() runs once with the function's env and a writable /tmp, and the pod exits 0", async () => {
      const { code, log, cron } = await runJob("echo");
      assert.equal(code, 0, log);
      assert.match(log, new RegExp(`^echo: scheduled cron=${JSON.stringify(cron.spec.schedule).replace(/[*]/g, "\\*")} env=(.*) /tmp=ok$`, "m"));
      const env = /^echo: scheduled cron=.* env=(.*) \/tmp=ok$/m.exec(log)![1];
      assert.deepEqual(JSON.parse(env), EXPECTED_ENV);
      assert.match(log, /^echo: waitUntil work done$/m);
      assert.match(log, /^fnrun: scheduled run resolved in [\d.]+ ms \(exit 0\)$/m);
    });

    test("boom: scheduled() throws, and the pod exits 1 (the Job fails)", async () => {
      const { code, log } = await runJob("boom");
      assert.equal(code, 1, log);
      assert.match(log, /^boom-run starting$/m);
      assert.match(log, /^fnrun: scheduled\(\) threw: Error: report bucket unreachable$/m);
      assert.match(log, /^fnrun: scheduled run failed after [\d.]+ ms \(exit 1\)$/m);
    });
  });

  test("each pod, once deleted, left nothing: no runc container, cgroup, mount or netns of this test's ids", async () => {
    const left = await leftovers(dir, [kubelet.idPrefix]);
    assert.deepEqual([left.containers, left.cgroups, left.mounts], [[], [], []]);
    const { stdout } = await run("ip", ["netns", "list"]);
    assert.deepEqual(stdout.split("\n").filter((l) => l.startsWith(kubelet.idPrefix)), []);
  });
});
