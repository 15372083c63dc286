/**
 * @module cli/commands-reload
 * `fnrun reload`: asks the running daemon to re-read config.toml (POST /v1/reload) and prints
 * what was redeployed, removed, or refused. A config with errors changes nothing: every
 * problem is printed, and the daemon keeps serving the config it had.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { CliError, ControlClient } from "./client.ts";

interface ReloadContext {
  configPath: string;
  json: boolean;
  out: (text: string) => void;
  client: () => Promise<ControlClient>;
}

/**
 * The client, even when config.toml no longer validates: the daemon is reached through the
 * socket of the state_dir the file names (read leniently), so it can report every problem
 * itself and keep its config. Only a config that validates is trusted for anything else.
 */
async function clientFor(ctx: ReloadContext): Promise<ControlClient> {
  try {
    return await ctx.client();
  } catch (err) {
    if ((err as { code?: string }).code !== "FNRUN_CONFIG_INVALID") throw err;
    const text = await readFile(ctx.configPath, "utf8").catch(() => "");
    const stateDir = /^\s*state_dir\s*=\s*"([^"\n]*)"/m.exec(text)?.[1] ?? ".fnrun";
    return new ControlClient(join(resolve(dirname(ctx.configPath), stateDir), "fnrun.sock"));
  }
}

export async function reload(ctx: ReloadContext): Promise<number> {
  const client = await clientFor(ctx);
  try {
    const { status, body } = await client.json<Record<string, any>>("POST", "/v1/reload");
    if (ctx.json) ctx.out(JSON.stringify(body, null, 2) + "\n");
    if (status >= 400) {
      if (ctx.json) return 1;
      throw new CliError(`reload refused, the daemon keeps its config:\n${body.message ?? `daemon answered ${status}`}`);
    }
    if (ctx.json) return body.failed?.length ? 1 : 0;
    for (const r of body.deployed ?? []) ctx.out(`redeployed ${r.name} revision ${r.revision}\n`);
    for (const name of body.removed ?? []) ctx.out(`removed ${name}\n`);
    if (body.unchanged?.length) ctx.out(`unchanged: ${body.unchanged.join(", ")}\n`);
    for (const f of body.failed ?? []) process.stderr.write(`fnrun: reload ${f.name}: ${f.error.message} (the old revision keeps serving)\n`);
    if (body.restartNeeded?.length) process.stderr.write(`fnrun: changes to [${body.restartNeeded.join("], [")}] apply after a restart of the daemon\n`);
    return body.failed?.length ? 1 : 0;
  } finally {
    await client.close();
  }
}
