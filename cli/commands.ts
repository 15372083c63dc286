/**
 * @module cli/commands
 * One function per command. Each talks to the daemon only through the control API,
 * except `up`, which is the daemon.
 */
import { failIfError, withClient, type Command } from "./command-kit.ts";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { text } from "node:stream/consumers";
import { CliError, type ControlClient } from "./client.ts";
import { formatTable } from "./table.ts";
import { imageCommands } from "./commands-images.ts";
import * as ops from "./commands-ops.ts";
import { deployWithProgress } from "./deploy-progress.ts";
import { dev } from "./dev.ts";
import { jobs } from "./commands-jobs.ts";
import { reload } from "./commands-reload.ts";
import { exportCommands } from "./commands-export.ts";
import { consoleCommand } from "./commands-console.ts";

export interface CommandContext {
  configPath: string;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  out: (text: string) => void;
  client: () => Promise<ControlClient>;
}


interface ApiError {
  error: string;
  code: string;
  message: string;
}


function need(ctx: CommandContext, what: string, usage: string): string[] {
  if (ctx.positionals.length === 0) throw new CliError(`missing ${what}\n\n${usage}`, 2);
  return ctx.positionals;
}


const up: Command = async (ctx) => {
  const { startDaemon } = await import("../gateway/daemon.ts");
  const { createLogger } = await import("../gateway/log.ts");
  const listen = ctx.values.listen as string | undefined;
  let override: { host: string; port: number } | undefined;
  if (listen) {
    const m = /^(.*):(\d+)$/.exec(listen);
    if (!m) throw new CliError(`--listen: expected HOST:PORT like 127.0.0.1:8080, got "${listen}"`, 2);
    override = { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  }
  // Signals are handled from the very start: one during start-up stops the daemon once it is up.
  let stopRequested: string | null = null;
  let onStop: (signal: string) => void = (signal) => (stopRequested = signal);
  const handler = (signal: string) => onStop(signal);
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
  const daemon = await startDaemon({ configPath: ctx.configPath, log: createLogger(process.stderr, ctx.json ? true : undefined), listen: override });
  // SIGHUP re-reads config.toml, as `fnrun reload` does (gateway/reload.ts); a bad one changes nothing.
  process.on("SIGHUP", () => void daemon.reload().catch(() => {}));
  let forced = false;
  await new Promise<void>((resolveStop) => {
    onStop = (signal) => {
      // The first signal drains (bounded by SHUTDOWN_DEADLINE_MS); a second one kills at once.
      process.on("SIGINT", force);
      process.on("SIGTERM", force);
      process.stderr.write(`${signal}: stopping every container… (${signal === "SIGINT" ? "Ctrl-C" : "signal"} again to force)\n`);
      daemon.close().then(resolveStop, (err) => {
        process.stderr.write(`fnrun: shutdown: ${(err as Error).message}\n`);
        resolveStop();
      });
    };
    const force = (signal: string) => {
      if (forced) return;
      forced = true;
      process.stderr.write(`${signal} again: killing every container now\n`);
      daemon.kill().then(resolveStop, resolveStop);
    };
    if (stopRequested) onStop(stopRequested);
  });
  // Everything of ours is stopped; a handle nobody closed (a stuck pipe) must not keep the process alive.
  setTimeout(() => process.exit(), 2000).unref();
  return forced ? 130 : 0;
};

const deploy: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const all: Array<Record<string, any>> = [];
    const output = { json: ctx.json, tty: Boolean(process.stdout.isTTY), out: ctx.out, err: (t: string) => process.stderr.write(t) };
    for (const dir of need(ctx, "DIR", "Usage: fnrun deploy DIR...")) all.push(...(await deployWithProgress(client, dir, output)));
    if (ctx.json) ctx.out(JSON.stringify(all, null, 2) + "\n");
    return all.some((r) => r.error) ? 1 : 0;
  });

const build: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [dir] = need(ctx, "DIR", "Usage: fnrun build DIR [--dockerfile]");
    const { status, body } = await client.json<{ results: Array<{ name: string; image: string; tag: string; dockerfile: string; context: string }> }>("POST", "/v1/builds", { path: resolve(dir) });
    failIfError(status, body);
    if (ctx.json) ctx.out(JSON.stringify(body.results, null, 2) + "\n");
    else for (const r of body.results) ctx.out(ctx.values.dockerfile ? r.dockerfile : `built ${r.name}: ${r.tag} (${r.image})\n  context: ${r.context}\n`);
    return 0;
  });

const ls: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const { status, body } = await client.json<Array<Record<string, any>>>("GET", "/v1/functions");
    failIfError(status, body);
    const pool = await client.json<{ stemCells: { size: number; ready: number; starting: number }; memory: { budget: number; reserved: number } }>("GET", "/v1/pool");
    failIfError(pool.status, pool.body);
    if (ctx.json) {
      ctx.out(JSON.stringify({ functions: body, pool: pool.body }, null, 2) + "\n");
      return 0;
    }
    const rows = body.map((f) => [
      f.name,
      f.revision,
      f.instances ? `${f.instances.busy} busy / ${f.instances.idle} idle${f.instances.starting ? ` / ${f.instances.starting} starting` : ""}` : "-",
      String(f.instances?.queued ?? 0),
      f.invocations ? `${f.invocations.invocations} (${f.invocations.starts.warm} warm, ${f.invocations.starts.stem} stem, ${f.invocations.starts.cold} cold)` : "0",
      (f.routes as Array<{ method: string; path: string }>).map((r) => `${r.method === "*" ? "" : `${r.method} `}${r.path}`).join(", "),
    ]);
    ctx.out(formatTable(["NAME", "REVISION", "INSTANCES", "QUEUED", "INVOCATIONS", "ROUTES"], rows));
    const { stemCells: stems, memory } = pool.body;
    const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
    ctx.out(`\nstem cells: ${stems.ready} ready${stems.starting ? `, ${stems.starting} starting` : ""} (of ${stems.size}); memory reserved: ${mib(memory.reserved)} of ${mib(memory.budget)}\n`);
    return 0;
  });

const rm: Command = (ctx) =>
  withClient(ctx, async (client) => {
    for (const name of need(ctx, "NAME", "Usage: fnrun rm NAME")) {
      const { status, body } = await client.json<unknown>("DELETE", `/v1/functions/${encodeURIComponent(name)}`);
      failIfError(status, body);
      ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `removed ${name}\n`);
    }
    return 0;
  });

const invoke: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [name] = need(ctx, "NAME", COMMAND_USAGE_INVOKE);
    const data = ctx.values.data as string | undefined;
    let body: Buffer | string | undefined;
    if (data === "-") body = await text(process.stdin);
    else if (data?.startsWith("@")) body = await readFile(data.slice(1));
    else body = data;
    const headers: Record<string, string> = {};
    for (const h of (ctx.values.header as string[] | undefined) ?? []) {
      const i = h.indexOf(":");
      if (i <= 0) throw new CliError(`--header: expected "Name: value", got "${h}"`, 2);
      headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
    }
    const method = ((ctx.values.method as string | undefined) ?? (body !== undefined ? "POST" : "GET")).toUpperCase();
    const path = (ctx.values.path as string | undefined) ?? `/${name}`;
    const res = await client.raw(method, `/v1/functions/${encodeURIComponent(name)}/invoke?path=${encodeURIComponent(path)}`, { body, headers });
    const status = res.statusCode ?? 0;
    if (ctx.json) {
      // For scripts: the whole answer as one object (the body as text).
      ctx.out(JSON.stringify({ status, headers: res.headers, body: await text(res) }) + "\n");
      return status < 300 ? 0 : 1;
    }
    if (ctx.values.include) {
      ctx.out(`HTTP ${status}\n`);
      for (const [k, v] of Object.entries(res.headers)) ctx.out(`${k}: ${v}\n`);
      ctx.out("\n");
    }
    // The daemon's own error (not the function's answer): one line with what went wrong.
    const isError = status >= 400 && String(res.headers["content-type"] ?? "").includes("json") && res.headers["x-fnrun-error"] === undefined;
    if (isError && !ctx.json && !ctx.values.include) {
      const e = JSON.parse(await text(res)) as Partial<ApiError>;
      throw new CliError(`invoke ${name}: ${status} ${e.error ?? ""}: ${e.message ?? ""}`);
    }
    for await (const chunk of res) process.stdout.write(chunk as Buffer);
    return status < 300 ? 0 : 1;
  });

const COMMAND_USAGE_INVOKE = "Usage: fnrun invoke NAME [--data DATA] [--path /PATH]";

export const commands: Record<string, Command> = { up, deploy, build, ls, rm, reload, invoke, logs: ops.logs, secret: ops.secret, metrics: ops.metrics, dev, jobs, console: consoleCommand, ...imageCommands({ deploy }), ...exportCommands };
