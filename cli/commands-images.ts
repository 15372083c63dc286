/**
 * @module cli/commands-images
 * Image commands: `push`, `pull`, `images [prune]`, `image save`, and `deploy --image`
 * (which wraps the folder deploy). They talk to the daemon's /v1/images endpoints
 * (gateway/control-images.ts); the daemon owns the store and does the registry traffic.
 */
import { failIfError, withClient, type Command } from "./command-kit.ts";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { text } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { CliError, type ControlClient } from "./client.ts";
import type { CommandContext } from "./commands.ts";
import { formatTable } from "./table.ts";
import { parseSize } from "../gateway/units.ts";




/** --insecure, --username and the password from standard input (never from argv: ps shows argv). */
async function registryFields(ctx: CommandContext): Promise<Record<string, unknown>> {
  const fields: Record<string, unknown> = { insecure: Boolean(ctx.values.insecure) };
  if (ctx.values.username) {
    if (!ctx.values["password-stdin"]) throw new CliError("--username needs --password-stdin (the password is read from standard input)", 2);
    fields.username = ctx.values.username;
    fields.password = (await text(process.stdin)).replace(/\r?\n$/, "");
  } else if (ctx.values["password-stdin"]) {
    throw new CliError("--password-stdin needs --username", 2);
  }
  return fields;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

const push: Command = (ctx) =>
  withClient(ctx, async (client) => {
    if (ctx.values.all) return pushAll(ctx, client);
    const [name, ref] = ctx.positionals;
    if (!name || !ref) throw new CliError("missing NAME or REF\n\nUsage: fnrun push NAME REF [--insecure] [--username U --password-stdin]", 2);
    const { status, body } = await client.json<Record<string, any>>("POST", "/v1/images/push", { name, ref, ...(await registryFields(ctx)) });
    failIfError(status, body);
    ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `pushed ${name} to ${body.ref} (${body.digest}): ${body.uploaded} blobs sent (${mib(body.bytes)}), ${body.skipped} already there, ${body.ms} ms\n`);
    return 0;
  });

/**
 * `push --all REGISTRY/PREFIX`: every deployed function's image to PREFIX/NAME:REVISION, the
 * manifest byte for byte, so the digests printed are the ones `fnrun export k8s` references.
 * A failing push does not stop the others; the exit code says whether all went.
 */
async function pushAll(ctx: CommandContext, client: ControlClient): Promise<number> {
  const [prefix, ...extra] = ctx.positionals;
  if (!prefix || extra.length > 0) throw new CliError(`${prefix ? `unexpected ${extra.join(" ")}` : "missing REGISTRY/PREFIX"}\n\nUsage: fnrun push --all HOST[:PORT]/PREFIX [--insecure] [--username U --password-stdin]`, 2);
  const fields = await registryFields(ctx); // the password is read once, for every push
  const { status, body: functions } = await client.json<Array<{ name: string; revision: string }>>("GET", "/v1/functions");
  failIfError(status, functions);
  if (functions.length === 0) throw new CliError("push --all: no function is deployed; deploy some first (`fnrun deploy DIR` or `fnrun up`)");
  const base = prefix.replace(/\/+$/, "");
  const results: Array<{ name: string; ref: string; digest?: string; error?: string }> = [];
  for (const f of [...functions].sort((a, b) => a.name.localeCompare(b.name))) {
    const ref = `${base}/${f.name}:${f.revision}`;
    const r = await client.json<Record<string, any>>("POST", "/v1/images/push", { name: f.name, ref, ...fields });
    results.push(r.status < 400 ? { name: f.name, ref, digest: r.body.digest as string } : { name: f.name, ref, error: (r.body as { message?: string }).message ?? `daemon answered ${r.status}` });
  }
  if (ctx.json) ctx.out(JSON.stringify(results, null, 2) + "\n");
  else ctx.out(formatTable(["NAME", "REFERENCE", "DIGEST"], results.map((r) => [r.name, r.ref, r.digest ?? `failed: ${r.error}`])));
  const failed = results.filter((r) => r.error);
  if (failed.length > 0 && !ctx.json) process.stderr.write(`fnrun: push --all: ${failed.length} of ${results.length} failed: ${failed.map((r) => `${r.name}: ${r.error}`).join("; ")}\n`);
  return failed.length > 0 ? 1 : 0;
}

const pull: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [ref] = ctx.positionals;
    if (!ref) throw new CliError("missing REF\n\nUsage: fnrun pull REF [--insecure] [--username U --password-stdin]", 2);
    const { status, body } = await client.json<Record<string, any>>("POST", "/v1/images/pull", { ref, ...(await registryFields(ctx)) });
    failIfError(status, body);
    ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `pulled ${body.ref} (${body.digest}): ${body.downloaded} blobs fetched (${mib(body.bytes)}), ${body.cached} cached, ${body.ms} ms\n`);
    return 0;
  });

const images: Command = (ctx) =>
  withClient(ctx, async (client) => {
    if (ctx.positionals[0] === "prune") {
      const { status, body } = await client.json<Record<string, any>>("POST", "/v1/images/prune", { revisions: Boolean(ctx.values.revisions) });
      failIfError(status, body);
      ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `removed ${body.blobs} blobs (${mib(body.bytes)}) and ${body.rootfs} unpacked rootfs${body.untagged.length ? `; untagged ${body.untagged.join(", ")}` : ""}\n`);
      return 0;
    }
    if (ctx.positionals.length > 0) throw new CliError(`unknown images subcommand \`${ctx.positionals[0]}\`\n\nUsage: fnrun images [prune [--revisions]]`, 2);
    const { status, body } = await client.json<Array<{ ref: string; digest: string; size: number; functions: string[] }>>("GET", "/v1/images");
    failIfError(status, body);
    if (ctx.json) ctx.out(JSON.stringify(body, null, 2) + "\n");
    else ctx.out(formatTable(["IMAGE", "DIGEST", "SIZE", "USED BY"], body.map((i) => [i.ref, i.digest.slice(7, 19), mib(i.size), i.functions.join(", ") || "-"])));
    return 0;
  });

const image: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [sub, name] = ctx.positionals;
    const usage = "Usage: fnrun image save NAME -o FILE [--format docker|oci]";
    if (sub !== "save" || !name) throw new CliError(`${sub && sub !== "save" ? `unknown image subcommand \`${sub}\`` : "missing NAME"}\n\n${usage}`, 2);
    const output = ctx.values.output as string | undefined;
    if (!output) throw new CliError(`missing -o FILE\n\n${usage}`, 2);
    const format = (ctx.values.format as string | undefined) ?? "docker";
    if (format !== "docker" && format !== "oci") throw new CliError(`--format: expected docker or oci, got "${format}"`, 2);
    const res = await client.raw("GET", `/v1/images/archive?name=${encodeURIComponent(name)}&format=${format}`);
    if ((res.statusCode ?? 0) >= 400) {
      const body = JSON.parse(await text(res)) as { message?: string };
      throw new CliError(body.message ?? `daemon answered ${res.statusCode}`);
    }
    // Temp file beside the target, renamed when complete: a failed save leaves no half archive.
    const dest = resolve(output);
    const tmp = join(dirname(dest), `.${process.pid}-fnrun-save.tmp`);
    try {
      await pipeline(res, createWriteStream(tmp, { mode: 0o644 }));
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new CliError(`image save ${name}: ${(err as Error).message}`);
    }
    if (!ctx.json) ctx.out(`saved ${name} to ${dest} (${format} archive${format === "docker" ? "; `docker load -i` reads it" : ""})\n`);
    else ctx.out(JSON.stringify({ name, file: dest, format }) + "\n");
    return 0;
  });

/** `deploy --image REF [--name NAME]` here; `deploy DIR...` goes to the folder deploy. */
function deployWithImage(folderDeploy: Command): Command {
  return async (ctx) => {
    const ref = ctx.values.image as string | undefined;
    if (!ref) {
      for (const k of ["name", "insecure", "username", "password-stdin"]) if (ctx.values[k]) throw new CliError(`--${k} goes with --image`, 2);
      return folderDeploy(ctx);
    }
    if (ctx.positionals.length > 0) throw new CliError("deploy --image takes no DIR", 2);
    return withClient(ctx, async (client) => {
      const { status, body } = await client.json<Record<string, any>>("POST", "/v1/images/deploy", { ref, name: ctx.values.name, ...(await registryFields(ctx)) });
      failIfError(status, body);
      if (ctx.json) ctx.out(JSON.stringify(body, null, 2) + "\n");
      else {
        const routes = (body.routes as Array<{ method: string; path: string }>).map((x) => `${x.method === "*" ? "" : `${x.method} `}${x.path}`).join(", ");
        const pulled = body.pulled ? `pull ${body.pulled.ms} ms, ` : "";
        ctx.out(`deployed ${body.name} revision ${body.revision} from ${ref} (${pulled}start ${body.timings.start} ms) → ${routes}\n`);
      }
      return 0;
    });
  };
}

const RUN_USAGE = "Usage: fnrun run REF [--memory SIZE] [--cpus N] [--insecure] [-- CMD ARGS...]";

/** `fnrun run`: streams the one-off's stdout and stderr here and exits with its exit code. */
const runCommand: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [ref, ...cmd] = ctx.positionals;
    if (!ref) throw new CliError(`missing REF\n\n${RUN_USAGE}`, 2);
    const body: Record<string, unknown> = { ref, ...(cmd.length ? { cmd } : {}), ...(await registryFields(ctx)) };
    if (ctx.values.memory !== undefined) {
      try {
        body.memoryBytes = parseSize(ctx.values.memory as string);
      } catch (err) {
        throw new CliError(`--memory: ${(err as Error).message}`, 2);
      }
    }
    if (ctx.values.cpus !== undefined) {
      const cpu = Number(ctx.values.cpus);
      if (!(cpu >= 0.01 && cpu <= 64)) throw new CliError(`--cpus: expected a share of cores from 0.01 to 64, got "${ctx.values.cpus}"`, 2);
      body.cpu = cpu;
    }
    const res = await client.raw("POST", "/v1/run", { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    if ((res.statusCode ?? 0) >= 400) {
      const e = JSON.parse(await text(res)) as { message?: string };
      throw new CliError(e.message ?? `daemon answered ${res.statusCode}`);
    }
    let rest = "";
    let exit: number | undefined;
    for await (const chunk of res) {
      rest += (chunk as Buffer).toString("utf8");
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const msg = JSON.parse(rest.slice(0, nl)) as { stream?: "stdout" | "stderr"; data?: string; exit?: number; error?: string };
        rest = rest.slice(nl + 1);
        if (msg.stream) (msg.stream === "stdout" ? process.stdout : process.stderr).write(Buffer.from(msg.data ?? "", "base64"));
        else if (msg.error) throw new CliError(msg.error);
        else if (msg.exit !== undefined) exit = msg.exit;
      }
    }
    if (exit === undefined) throw new CliError("run: the daemon ended the stream without an exit code");
    return exit;
  });

const ps: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const { status, body } = await client.json<Array<{ id: string; kind: string; function: string | null; image: string; state: string; pid: number; limits: { memoryBytes: number | null; cpu: number | null; pids: number | null } }>>("GET", "/v1/containers");
    failIfError(status, body);
    if (ctx.json) {
      ctx.out(JSON.stringify(body, null, 2) + "\n");
      return 0;
    }
    const lim = (l: (typeof body)[number]["limits"]) =>
      `${l.memoryBytes === null ? "no memory limit" : `${Math.round(l.memoryBytes / 1048576)} MiB`}, ${l.cpu === null ? "no cpu limit" : `${+l.cpu.toFixed(2)} cpu`}, ${l.pids === null ? "no pids limit" : `${l.pids} pids`}`;
    ctx.out(formatTable(["CONTAINER", "KIND", "FUNCTION", "IMAGE", "STATE", "LIMITS"], body.map((c) => [c.id, c.kind, c.function ?? "-", c.image, c.state, lim(c.limits)])));
    return 0;
  });

/** The image commands, with `deploy` extended by --image. */
export function imageCommands(existing: { deploy: Command }): Record<string, Command> {
  return { push, pull, images, image, run: runCommand, ps, deploy: deployWithImage(existing.deploy) };
}
