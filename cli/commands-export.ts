/**
 * @module cli/commands-export
 * `fnrun export k8s`: asks the daemon for the Kubernetes objects of the deployed functions
 * (POST /v1/export/k8s, gateway/control-export.ts) and writes them as YAML: to stdout, or
 * with -o DIR one file per function plus ingress.yaml, and secrets/NAME-secrets.yaml
 * templates (mode 0600, never overwritten: they may hold the values filled in since).
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { stringify } from "yaml";
import { failIfError, withClient, type Command } from "./command-kit.ts";
import { CliError } from "./client.ts";

/** What the daemon answers (gateway/k8s/export.ts K8sExport). */
interface ExportAnswer {
  files: Array<{ path: string; header: string[]; objects: unknown[]; template?: boolean }>;
  functions: Array<{ name: string; revision: string; image: string; objects: string[] }>;
  secrets: Array<{ function: string; secret: string; keys: string[]; command: string }>;
}

const USAGE = "Usage: fnrun export k8s --registry HOST[:PORT]/PREFIX [-o DIR] [--routes ingress|httproute] [--knative] [--namespace NS]";
/** The first line of every manifest file the exporter writes: how a stale one is recognized. */
const MARK = "# fnrun export k8s";

/** One YAML stream: the header as comments, then each object as a document. */
export function renderFile(file: ExportAnswer["files"][number]): string {
  const header = file.header.map((l) => `# ${l}`.trimEnd()).join("\n");
  // lineWidth 0: no folding, so long values (FNRUN_ENV_KEYS, images) stay on one line.
  const docs = file.objects.map((o) => stringify(o, { lineWidth: 0 }));
  return `${header}\n${docs.map((d) => `---\n${d}`).join("")}`;
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

const exportCommand: Command = async (ctx) => {
  const [target, ...extra] = ctx.positionals;
  if (target !== "k8s" || extra.length > 0) throw new CliError(`${target && target !== "k8s" ? `unknown export target \`${target}\` (only k8s)` : extra.length ? `unexpected ${extra.join(" ")}` : "missing TARGET"}\n\n${USAGE}`, 2);
  const v = ctx.values;
  const registry = v.registry as string | undefined;
  if (!registry) {
    throw new CliError(`missing --registry HOST[:PORT]/PREFIX: the cluster pulls each function's image from a registry. Push them first with \`fnrun push --all HOST[:PORT]/PREFIX\`, then export with the same --registry\n\n${USAGE}`, 2);
  }
  const body = {
    registry,
    routes: v.routes,
    knative: v.knative ? true : undefined,
    namespace: v.namespace,
    hostname: v.hostname,
    ingressClass: v["ingress-class"],
    gateway: v.gateway,
    userNamespaces: v["user-namespaces"] ? true : undefined,
  };
  const answer = await withClient(ctx, async (client) => {
    const { status, body: res } = await client.json<ExportAnswer>("POST", "/v1/export/k8s", body);
    failIfError(status, res);
    return res;
  });
  if (ctx.json) {
    ctx.out(JSON.stringify(answer, null, 2) + "\n");
    return 0;
  }
  const output = v.output as string | undefined;
  if (!output) {
    // stdout is for `| kubectl apply -f -`: the manifests only; secrets (templates) are said on stderr.
    ctx.out(answer.files.filter((f) => !f.template).map(renderFile).join(""));
    for (const s of answer.secrets) process.stderr.write(`fnrun: ${s.function} reads ${s.keys.join(", ")} from Secret ${s.secret}, which is not in this output; create it: ${s.command}\n`);
    return 0;
  }
  const dir = resolve(output);
  await mkdir(dir, { recursive: true });
  const shown = (p: string) => relative(process.cwd(), p) || ".";
  const written = new Set<string>();
  for (const file of answer.files) {
    const path = join(dir, file.path);
    written.add(path);
    if (file.template) {
      await mkdir(join(dir, "secrets"), { recursive: true, mode: 0o700 });
      const exists = await stat(path).then(() => true, () => false);
      const s = answer.secrets.find((x) => `secrets/${x.secret}.yaml` === file.path)!;
      if (exists) {
        ctx.out(`kept ${shown(path)} (already there; it may hold the values you filled in)\n`);
        continue;
      }
      await writeAtomic(path, renderFile(file), 0o600);
      ctx.out(`wrote ${shown(path)} (mode 0600): fill in ${s.keys.join(", ")} and \`kubectl apply -f\` it once, or run: ${s.command}\n`);
      continue;
    }
    await writeAtomic(path, renderFile(file), 0o644);
    ctx.out(`wrote ${shown(path)}: ${file.objects.map((o) => `${(o as { kind: string }).kind}/${(o as { metadata: { name: string } }).metadata.name}`).join(", ")}\n`);
  }
  // Files of an earlier export whose function is gone would be applied again by `kubectl apply -f DIR`.
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    if (!entry.endsWith(".yaml") || written.has(path)) continue;
    const first = (await readFile(path, "utf8").catch(() => "")).split("\n", 1)[0];
    if (!first.startsWith(MARK)) continue;
    await rm(path);
    ctx.out(`removed ${shown(path)} (from an earlier export; its function is no longer deployed)\n`);
  }
  ctx.out(`apply with: kubectl apply -f ${shown(dir)}${answer.secrets.length ? ` (after the secrets above)` : ""}\n`);
  return 0;
};

export const exportCommands: Record<string, Command> = { export: exportCommand };
