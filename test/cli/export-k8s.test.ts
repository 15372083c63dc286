/**
 * `fnrun push --all` and `fnrun export k8s` end to end: the real CLI against a real daemon
 * (`fnrun up`, real runc) and a real registry (docker-registry on 127.0.0.1). The manifests
 * written reference exactly the digests the push printed, the registry serves a manifest at
 * each, every object validates against the Kubernetes schemas, no secret value is written
 * anywhere, and a user's mistakes (no --registry, a seconds schedule, a function not
 * deployed) get messages that say the fix.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { control, ROOT, startDaemonProcess, type CliResult, type DaemonProcess } from "../helpers/daemon-process.ts";
import { startRegistry, type RegistryServer } from "../builder/registry-server.ts";
import { assertValidObjects } from "../gateway/k8s-schema.ts";

const GOOD = join(ROOT, "test/fixtures/builder/good");
const JOBS = join(ROOT, "test/fixtures/jobs");
const SECRET = "k8s-export-s3cret-never-written-9c1e";

const CONFIG = (tickSchedule: string, withCronly = true) => `
[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 0

[functions.good]
dir = "${GOOD}"
env = { STAGE = "e2e" }
routes = ["GET /good", "GET /good/:name"]
min_instances = 1
max_instances = 3

[functions.tick]
dir = "${JOBS}/tick"
schedule = "${tickSchedule}"
timezone = "Europe/Berlin"
overlap = "allow"
routes = ["GET /tick"]
${withCronly ? `
[functions.cronly]
dir = "${JOBS}/cronly"
schedule = "30 4 * * *"
routes = []
` : ""}`;

let registry: RegistryServer;
let d: DaemonProcess;
let out: string;

before(async () => {
  registry = await startRegistry();
  d = await startDaemonProcess(CONFIG("0 3 * * *"));
  out = await mkdtemp(join(tmpdir(), "fnrun-k8s-"));
});
after(async () => {
  await d?.stop();
  await registry?.stop();
  if (d) await rm(d.dir, { recursive: true, force: true });
  if (out) await rm(out, { recursive: true, force: true });
});

function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function objectsOf(yamlText: string): any[] {
  return parseAllDocuments(yamlText).map((doc) => {
    assert.deepEqual(doc.errors, [], "the YAML parses");
    return doc.toJS();
  });
}

describe("fnrun push --all and fnrun export k8s", { timeout: 600_000 }, () => {
  const digests = new Map<string, string>();

  test("push --all pushes every deployed function to PREFIX/NAME:REVISION and prints the digests", async () => {
    ok(await d.cli(["secret", "set", "good", "API_TOKEN"], { input: `${SECRET}\n` }), "secret set");
    const prefix = `${registry.host}/fnrun`;
    const stdout = ok(await d.cli(["push", "--all", prefix, "--insecure"]), "push --all");
    const functions = await control<Array<{ name: string; revision: string; image: string }>>(d, "GET", "/v1/functions");
    assert.deepEqual(functions.map((f) => f.name).sort(), ["cronly", "good", "tick"]);
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0], /^NAME +REFERENCE +DIGEST$/);
    assert.equal(lines.length, 4, stdout);
    for (const f of functions) {
      // The digest printed is the deployed revision's manifest digest: pushed byte for byte.
      const line = lines.find((l) => l.startsWith(`${f.name} `));
      assert.ok(line, `${f.name} in\n${stdout}`);
      assert.deepEqual(line.split(/ +/), [f.name, `${prefix}/${f.name}:${f.revision}`, f.image]);
      digests.set(f.name, f.image);
    }
    const json = JSON.parse(ok(await d.cli(["push", "--all", `${prefix}/`, "--insecure", "--json"]), "push --all --json")) as Array<{ name: string; digest: string }>;
    assert.deepEqual(Object.fromEntries(json.map((r) => [r.name, r.digest])), Object.fromEntries(digests));
  });

  test("export k8s -o DIR: files per function, images pinned to the pushed digests, served by the registry, valid objects, no secret value", async () => {
    const r = await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`, "-o", out]);
    ok(r, "export");
    assert.match(r.stdout, /^wrote .*good\.yaml: Deployment\/good, Service\/good, HorizontalPodAutoscaler\/good$/m);
    assert.match(r.stdout, /^wrote .*tick\.yaml: Deployment\/tick, Service\/tick, HorizontalPodAutoscaler\/tick, CronJob\/tick$/m);
    assert.match(r.stdout, /^wrote .*cronly\.yaml: CronJob\/cronly$/m);
    assert.match(r.stdout, /^wrote .*ingress\.yaml: Ingress\/fnrun$/m);
    assert.match(r.stdout, /^wrote .*secrets\/good-secrets\.yaml \(mode 0600\): fill in API_TOKEN .*kubectl create secret generic good-secrets --from-literal=API_TOKEN=…$/m);
    assert.match(r.stdout, /^apply with: kubectl apply -f .* \(after the secrets above\)$/m);
    assert.deepEqual((await readdir(out)).sort(), ["cronly.yaml", "good.yaml", "ingress.yaml", "secrets", "tick.yaml"]);
    assert.equal((await stat(join(out, "secrets/good-secrets.yaml"))).mode & 0o777, 0o600);

    const objects: any[] = [];
    for (const f of ["good.yaml", "tick.yaml", "cronly.yaml", "ingress.yaml", "secrets/good-secrets.yaml"]) {
      const text = await readFile(join(out, f), "utf8");
      assert.ok(!text.includes(SECRET), `${f} holds no secret value`);
      objects.push(...objectsOf(text));
    }
    assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET));
    await assertValidObjects(objects);

    const pods = objects.flatMap((o) => (o.kind === "Deployment" ? [o.spec.template.spec] : o.kind === "CronJob" ? [o.spec.jobTemplate.spec.template.spec] : []));
    assert.equal(pods.length, 4);
    for (const pod of pods) {
      const image: string = pod.containers[0].image;
      const m = /^(127\.0\.0\.1:\d+)\/(fnrun\/([a-z]+))@(sha256:[0-9a-f]{64})$/.exec(image);
      assert.ok(m, image);
      assert.equal(m[4], digests.get(m[3]), `${m[3]}: the digest push --all printed`);
      // The registry has a manifest at exactly that digest.
      const res = await fetch(`http://${m[1]}/v2/${m[2]}/manifests/${m[4]}`, {
        method: "HEAD",
        headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
      });
      assert.equal(res.status, 200, image);
      assert.equal(res.headers.get("docker-content-digest"), m[4]);
    }
    const good = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "good");
    const env = good.spec.template.spec.containers[0].env;
    assert.deepEqual(env.find((e: { name: string }) => e.name === "FNRUN_ENV_KEYS"), { name: "FNRUN_ENV_KEYS", value: "API_TOKEN,STAGE" });
    assert.deepEqual(env.find((e: { name: string }) => e.name === "API_TOKEN").valueFrom, { secretKeyRef: { name: "good-secrets", key: "API_TOKEN", optional: false } });
    assert.deepEqual(objects.find((o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === "good").spec.minReplicas, 1);
    const cron = objects.find((o) => o.kind === "CronJob" && o.metadata.name === "tick");
    assert.deepEqual([cron.spec.schedule, cron.spec.timeZone, cron.spec.concurrencyPolicy], ["0 3 * * *", "Europe/Berlin", "Allow"]);
    const paths = objects.find((o) => o.kind === "Ingress").spec.rules[0].http.paths.map((p: any) => `${p.pathType} ${p.path} ${p.backend.service.name}`);
    assert.deepEqual(paths, ["Exact /good good", "Prefix /good good", "Exact /tick tick"]);
    const secret = objectsOf(await readFile(join(out, "secrets/good-secrets.yaml"), "utf8"))[0];
    assert.deepEqual(secret.stringData, { API_TOKEN: "" });
  });

  test("without -o: the manifests on stdout (no Secret), the Secret's command on stderr; --routes httproute and --knative validate too", async () => {
    const r = await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`, "--routes", "httproute", "--gateway", "infra/edge"]);
    const objects = objectsOf(ok(r, "export to stdout"));
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), [
      "CronJob/cronly",
      "Deployment/good", "Service/good", "HorizontalPodAutoscaler/good", "HTTPRoute/good",
      "Deployment/tick", "Service/tick", "HorizontalPodAutoscaler/tick", "HTTPRoute/tick", "CronJob/tick",
    ]);
    assert.match(r.stderr, /^fnrun: good reads API_TOKEN from Secret good-secrets, which is not in this output; create it: kubectl create secret generic good-secrets --from-literal=API_TOKEN=…$/m);
    await assertValidObjects(objects);
    const knative = objectsOf(ok(await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`, "--knative"]), "export --knative"));
    assert.deepEqual(knative.map((o) => `${o.apiVersion} ${o.kind}/${o.metadata.name}`), [
      "batch/v1 CronJob/cronly", "serving.knative.dev/v1 Service/good", "serving.knative.dev/v1 Service/tick", "batch/v1 CronJob/tick",
    ]);
    await assertValidObjects(knative);
  });

  test("mistakes: no --registry, a seconds schedule, a function not deployed; a later export removes a gone function's file and keeps secrets", async () => {
    const noRegistry = await d.cli(["export", "k8s", "-o", out]);
    assert.equal(noRegistry.code, 2);
    assert.match(noRegistry.stderr, /^fnrun: missing --registry HOST\[:PORT\]\/PREFIX: .*`fnrun push --all HOST\[:PORT\]\/PREFIX`/);

    // config.toml is read as it is now: a seconds schedule cannot be a CronJob.
    await writeFile(d.configPath, CONFIG("*/30 * * * * *"));
    const seconds = await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`]);
    assert.equal(seconds.code, 1);
    assert.match(seconds.stderr, /^fnrun: export k8s: functions\.tick\.schedule: "\*\/30 \* \* \* \* \*" has a seconds field; a Kubernetes CronJob runs at most once a minute: write it with 5 fields/);
    assert.equal(seconds.stdout, "");

    await writeFile(d.configPath, CONFIG("0 3 * * *"));
    ok(await d.cli(["rm", "cronly"]), "rm");
    const missing = await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^fnrun: export k8s: function cronly of config\.toml is not deployed, so there is no image to run: deploy it \(`fnrun deploy DIR`, or `fnrun reload` \/ `fnrun up`\)/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);

    // config.toml without it: its old file goes, the filled-in secret stays untouched.
    await writeFile(d.configPath, CONFIG("0 3 * * *", false));
    const filled = (await readFile(join(out, "secrets/good-secrets.yaml"), "utf8")).replace('API_TOKEN: ""', 'API_TOKEN: "typed-in"');
    await writeFile(join(out, "secrets/good-secrets.yaml"), filled);
    const again = ok(await d.cli(["export", "k8s", "--registry", `${registry.host}/fnrun`, "-o", out]), "export again");
    assert.match(again, /^removed .*cronly\.yaml \(from an earlier export; its function is no longer deployed\)$/m);
    assert.match(again, /^kept .*secrets\/good-secrets\.yaml \(already there/m);
    assert.deepEqual((await readdir(out)).sort(), ["good.yaml", "ingress.yaml", "secrets", "tick.yaml"]);
    assert.equal(await readFile(join(out, "secrets/good-secrets.yaml"), "utf8"), filled);
  });
});
