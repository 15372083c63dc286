/**
 * @module cli/deploy-progress
 * `fnrun deploy`: deploys through the control API's event stream (gateway/deploy-stream.ts)
 * and shows each step (bundle, image, start) with its time as it finishes: on a terminal one
 * line per function, redrawn in place; otherwise (logs, CI) plain lines; with --json one JSON
 * array of the results at the end and nothing else on stdout.
 */
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { text } from "node:stream/consumers";
import { CliError, type ControlClient } from "./client.ts";

export interface DeployEvent {
  event: "start" | "step" | "deployed" | "failed" | "end";
  name?: string;
  step?: string;
  ms?: number;
  result?: Record<string, any>;
  error?: { code?: string; message: string; kind?: string };
  deployed?: number;
  failed?: number;
}

export interface DeployOutput {
  json: boolean;
  tty: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Deploys `dir` (a function folder or a folder of them), reporting as it goes; returns every result or failure. */
export async function deployWithProgress(client: ControlClient, dir: string, o: DeployOutput): Promise<Array<Record<string, any>>> {
  const res = await client.raw("POST", "/v1/functions", {
    body: JSON.stringify({ path: resolve(dir) }),
    headers: { "content-type": "application/json", accept: "application/x-ndjson" },
  });
  if (!String(res.headers["content-type"] ?? "").includes("ndjson")) {
    const body = JSON.parse(await text(res)) as { results?: Array<Record<string, any>>; message?: string };
    if (!body.results) throw new CliError(body.message ?? `daemon answered ${res.statusCode}`);
    return body.results;
  }
  const all: Array<Record<string, any>> = [];
  const steps = new Map<string, string[]>();
  const show = (name: string, line: string, final = false) => {
    if (o.json) return;
    if (o.tty) o.out(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    else o.out(`${line}\n`);
  };
  for await (const raw of createInterface({ input: res, crlfDelay: Infinity })) {
    if (raw === "") continue;
    const e = JSON.parse(raw) as DeployEvent;
    const name = e.name ?? "?";
    if (e.event === "start") {
      steps.set(name, []);
      if (o.tty) show(name, `${name}: bundling…`);
    } else if (e.event === "step") {
      const done = steps.get(name) ?? [];
      done.push(`${e.step} ${fmtMs(e.ms!)}`);
      steps.set(name, done);
      const next = { bundle: "building image…", image: "starting…", start: "" }[e.step as "bundle"] ?? "";
      show(name, o.tty ? `${name}: ${done.join(" · ")}${next ? ` · ${next}` : ""}` : `${name}: ${e.step} done in ${fmtMs(e.ms!)}`);
    } else if (e.event === "deployed") {
      const r = e.result!;
      all.push(r);
      const routes = (r.routes as Array<{ method: string; path: string }>).map((x) => `${x.method === "*" ? "" : `${x.method} `}${x.path}`).join(", ");
      show(name, `deployed ${r.name} revision ${r.revision} (${(steps.get(name) ?? []).join(", ") || `build ${r.timings.build} ms, start ${r.timings.start} ms`}) → ${routes}`, true);
    } else if (e.event === "failed") {
      all.push({ name, error: e.error });
      if (o.tty) o.out("\r\x1b[2K");
      if (!o.json) o.err(`fnrun: deploy ${name}: ${e.error?.message}\n`);
    }
  }
  return all;
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}
