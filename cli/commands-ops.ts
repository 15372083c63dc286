/**
 * @module cli/commands-ops
 * The operating commands: `logs` (read and follow, by time and invocation), `secret`
 * (set/ls/rm) and `metrics`. Like cli/commands.ts, they talk to the daemon only through
 * the control API.
 */
import { failIfError, withClient, type Command } from "./command-kit.ts";
import { createInterface } from "node:readline";
import { text } from "node:stream/consumers";
import { parseLogLine } from "../gateway/log-reader.ts";
import { CliError } from "./client.ts";
import { formatTable } from "./table.ts";




export const LOGS_USAGE = "Usage: fnrun logs NAME [-f] [--since 10m] [--invocation ID] [--tail N]";

export const logs: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [name] = ctx.positionals;
    if (!name) throw new CliError(`missing NAME\n\n${LOGS_USAGE}`, 2);
    const q = new URLSearchParams();
    const tail = ctx.values.tail as string | undefined;
    if (tail !== undefined) {
      if (!/^\d+$/.test(tail) || tail === "0") throw new CliError(`--tail: expected a number of lines (1 or more), got "${tail}"`, 2);
      q.set("tail", tail);
    }
    const since = ctx.values.since as string | undefined;
    if (since !== undefined) {
      if (!/^(\d{4}-\d\d-\d\d\S*|[\d.]+(ms|s|m|h|d)([\d.]+(ms|s|m|h|d))*)$/.test(since)) {
        throw new CliError(`--since: expected a duration like 10m, 1h or 30s, or an ISO date like 2026-01-31T12:00:00Z, got "${since}"`, 2);
      }
      q.set("since", since);
    }
    const invocation = ctx.values.invocation as string | undefined;
    if (invocation !== undefined) q.set("invocation", invocation);
    if (ctx.values.follow) q.set("follow", "1");
    const res = await client.raw("GET", `/v1/functions/${encodeURIComponent(name)}/logs?${q}`);
    if ((res.statusCode ?? 0) >= 400) {
      const body = await text(res);
      let parsed: unknown = body;
      try {
        parsed = JSON.parse(body);
      } catch {}
      failIfError(res.statusCode ?? 0, parsed);
    }
    // Followed logs end with Ctrl-C; the daemon notices the closed connection.
    for await (const raw of createInterface({ input: res, crlfDelay: Infinity })) {
      if (ctx.json) {
        const { time, instance, stream, invocation: inv, text: t } = parseLogLine(raw);
        ctx.out(JSON.stringify({ time, instance, stream, invocation: inv, text: t }) + "\n");
      } else ctx.out(`${raw}\n`);
    }
    return 0;
  });

export const SECRET_USAGE = `Usage: fnrun secret set NAME KEY   (the value is read from standard input)
       fnrun secret ls NAME
       fnrun secret rm NAME KEY`;

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const secret: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const [action, name, key] = ctx.positionals;
    const usage = (msg: string) => new CliError(`${msg}\n\n${SECRET_USAGE}`, 2);
    if (!action) throw usage("missing ACTION (set, ls or rm)");
    if (!["set", "ls", "rm"].includes(action)) throw usage(`unknown action \`${action}\``);
    if (!name) throw usage("missing NAME (the function)");
    const base = `/v1/functions/${encodeURIComponent(name)}/secrets`;
    if (action === "ls") {
      const { status, body } = await client.json<{ name: string; keys: string[] }>("GET", base);
      failIfError(status, body);
      if (ctx.json) ctx.out(JSON.stringify(body) + "\n");
      else if (body.keys.length === 0) ctx.out(`no secrets for ${name}\n`);
      else ctx.out(formatTable(["KEY"], body.keys.map((k) => [k])));
      return 0;
    }
    if (!key) throw usage("missing KEY");
    if (!KEY_RE.test(key)) throw usage(`KEY must be an environment variable name (letters, digits, _; not starting with a digit), got "${key}"`);
    if (action === "rm") {
      const { status, body } = await client.json<{ name: string; key: string; removed: boolean; redeployed: boolean }>("DELETE", `${base}/${encodeURIComponent(key)}`);
      failIfError(status, body);
      ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `removed secret ${key} of ${name}${body.redeployed ? " (redeployed)" : ""}\n`);
      return 0;
    }
    if (process.stdin.isTTY) process.stderr.write(`value of ${key} (end with Ctrl-D): `);
    let value = await text(process.stdin);
    // `echo value | fnrun secret set` adds one newline that is not part of the value.
    if (value.endsWith("\n")) value = value.slice(0, value.endsWith("\r\n") ? -2 : -1);
    const { status, body } = await client.json<{ name: string; key: string; redeployed: boolean }>("PUT", `${base}/${encodeURIComponent(key)}`, { value });
    failIfError(status, body);
    ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `set secret ${key} of ${name}${body.redeployed ? " (redeployed: new instances have it)" : ""}\n`);
    return 0;
  });

export const metrics: Command = (ctx) =>
  withClient(ctx, async (client) => {
    const res = await client.raw("GET", "/metrics");
    const body = await text(res);
    if ((res.statusCode ?? 0) >= 400) throw new CliError(`GET /metrics: daemon answered ${res.statusCode}`);
    ctx.out(ctx.json ? JSON.stringify({ metrics: body }) + "\n" : body);
    return 0;
  });
