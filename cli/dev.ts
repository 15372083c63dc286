/**
 * @module cli/dev
 * `fnrun dev [DIR]`: deploys the function folders under DIR, then watches them and redeploys
 * a function when one of its files is saved (fs.watch, debounced: an editor's save is several
 * events). Each deploy prints its steps, its routes and what a GET of its first plain route
 * answers. A save that breaks the build prints the error with file and line; the daemon keeps
 * serving the last good revision (a failed deploy changes nothing that serves).
 */
import { watch, type FSWatcher } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, join, relative, resolve, sep } from "node:path";
import { text } from "node:stream/consumers";
import { CliError, type ControlClient } from "./client.ts";
import type { CommandContext } from "./commands.ts";
import { deployWithProgress } from "./deploy-progress.ts";

const ENTRY_NAMES = ["index.ts", "index.js", "index.mjs"];
const DEBOUNCE_MS = 150;

async function hasEntry(dir: string): Promise<boolean> {
  for (const n of ENTRY_NAMES) if ((await stat(join(dir, n)).catch(() => null))?.isFile()) return true;
  return false;
}

/** DIR itself when it is a function folder, else its subfolders that are. */
export async function functionFolders(dir: string): Promise<string[]> {
  if (await hasEntry(dir)) return [dir];
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`dev: cannot read \`${dir}\` (${err.code}); give a function folder or a folder of function folders`, 2);
  });
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules" && (await hasEntry(join(dir, e.name)))) out.push(join(dir, e.name));
  if (out.length === 0) throw new CliError(`dev: no function in \`${dir}\`: it has no ${ENTRY_NAMES.join(", ")} and no subfolder with one`, 2);
  return out.sort();
}

/** After a deploy: one GET of the function's first route without parameters, to show that it answers. */
async function probe(client: ControlClient, result: Record<string, any>, out: (t: string) => void): Promise<void> {
  const route = (result.routes as Array<{ method: string; path: string }>).find((r) => (r.method === "GET" || r.method === "*") && !/[:*]/.test(r.path));
  if (!route) return;
  try {
    const res = await client.raw("GET", `/v1/functions/${encodeURIComponent(result.name)}/invoke?path=${encodeURIComponent(route.path)}`);
    const body = (await text(res)).trim().split("\n")[0].slice(0, 120);
    out(`  GET ${route.path} → ${res.statusCode}${body ? ` ${body}` : ""}\n`);
  } catch (err) {
    out(`  GET ${route.path} → failed: ${(err as Error).message}\n`);
  }
}

export async function dev(ctx: CommandContext): Promise<number> {
  const root = resolve(ctx.positionals[0] ?? "functions");
  const folders = await functionFolders(root);
  const client = await ctx.client();
  const output = { json: ctx.json, tty: Boolean(process.stdout.isTTY), out: ctx.out, err: (t: string) => process.stderr.write(t) };

  // One deploy at a time per function; a save during a deploy queues exactly one more.
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const deployOne = (dir: string, why: string): Promise<void> => {
    if (running.has(dir)) {
      again.add(dir);
      return running.get(dir)!;
    }
    const p = (async () => {
      if (!ctx.json) ctx.out(`${why}: deploying ${basename(dir)}…\n`);
      try {
        const results = await deployWithProgress(client, dir, output);
        for (const r of results) {
          if (ctx.json) ctx.out(JSON.stringify({ event: r.error ? "failed" : "deployed", ...r }) + "\n");
          else if (!r.error) await probe(client, r, ctx.out);
          else ctx.out(`  ${r.name}: the last good revision keeps serving; fix the error and save again\n`);
        }
      } catch (err) {
        process.stderr.write(`fnrun: dev: ${(err as Error).message}\n`);
      }
    })().finally(() => {
      running.delete(dir);
      if (again.delete(dir)) void deployOne(dir, "changed while deploying");
    });
    running.set(dir, p);
    return p;
  };

  for (const dir of folders) await deployOne(dir, "start");

  const timers = new Map<string, NodeJS.Timeout>();
  const watchers: FSWatcher[] = [];
  for (const dir of folders) {
    const w = watch(dir, { recursive: true }, (_event, file) => {
      const rel = String(file ?? "");
      // Editors' swap and backup files, dependencies and dot files are not the function's source.
      if (rel.split(sep).some((p) => p === "node_modules" || p.startsWith(".")) || /(~|\.swp|\.swx|\.tmp)$/.test(rel)) return;
      clearTimeout(timers.get(dir));
      timers.set(dir, setTimeout(() => void deployOne(dir, `${relative(process.cwd(), join(dir, rel)) || rel} saved`), DEBOUNCE_MS));
    });
    watchers.push(w);
  }
  if (!ctx.json) ctx.out(`watching ${folders.length} function folder${folders.length === 1 ? "" : "s"} under ${relative(process.cwd(), root) || "."} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  for (const w of watchers) w.close();
  for (const t of timers.values()) clearTimeout(t);
  await Promise.allSettled(running.values());
  await client.close();
  return 0;
}
