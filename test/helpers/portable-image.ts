/**
 * @module test/helpers/portable-image
 * What the portable-image suites (runc alone, docker) share: the fnrun daemon that serves the
 * probe functions for comparison and saves their images, one HTTP exchange made with curl
 * (on the host, or inside a network namespace), and the list of requests whose answers must be
 * the same through fnrun and from the image run anywhere else.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { ROOT, startDaemonProcess, type DaemonProcess } from "./daemon-process.ts";

export const PROBE_DIR = join(ROOT, "test/fixtures/portable/probe");

/** A daemon serving `probe` (routes /probe, /probe/*) and `hello` (no scheduled()). */
export function startProbeDaemon(): Promise<DaemonProcess> {
  return startDaemonProcess(`
[gateway]
listen = "127.0.0.1:0"

[pool]
stem_cells = 1

[defaults]
memory = "96MiB"
timeout = "20s"

[functions.probe]
dir = "${PROBE_DIR}"
env = { GREETING = "hi" }

[functions.hello]
dir = "${ROOT}/functions/hello"
`);
}

/** `fnrun image save NAME -o FILE --format FORMAT` through the real CLI. */
export async function saveImage(d: DaemonProcess, name: string, file: string, format: "oci" | "docker"): Promise<void> {
  const r = await d.cli(["image", "save", name, "-o", file, "--format", format]);
  assert.equal(r.code, 0, `fnrun image save ${name}: ${r.stderr}`);
}

export interface Answer {
  status: number;
  /** Lower-cased names, in the order received. */
  headers: [string, string][];
  body: string;
}

export interface CurlRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** curl's exit code for "connection refused" (CURLE_COULDNT_CONNECT). */
export const CURL_COULDNT_CONNECT = 7;

export class CurlError extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
  }
}

/**
 * One request with curl to `base` (http://127.0.0.1:PORT), run as `prefix` + curl (e.g. `ip
 * netns exec NS`), bounded by `maxTimeS`. Rejects with a CurlError carrying curl's exit code.
 */
export function curl(prefix: string[], base: string, req: CurlRequest, maxTimeS = 15): Promise<Answer> {
  const args = [...prefix, "curl", "-sS", "-i", "--max-time", String(maxTimeS), "-X", req.method ?? "GET"];
  for (const [k, v] of Object.entries(req.headers ?? {})) args.push("-H", `${k}: ${v}`);
  if (req.body !== undefined) args.push("--data-binary", req.body);
  args.push(`${base}${req.path}`);
  return new Promise((resolve, reject) => {
    execFile(args[0], args.slice(1), { encoding: "latin1", timeout: (maxTimeS + 5) * 1000, env: { PATH: process.env.PATH } }, (err, stdout, stderr) => {
      if (err) return reject(new CurlError(typeof err.code === "number" ? err.code : -1, `curl ${req.method ?? "GET"} ${req.path}: ${stderr.trim() || err.message}`));
      resolve(parseResponse(stdout));
    });
  });
}

function parseResponse(raw: string): Answer {
  const end = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, end).split("\r\n");
  const status = Number(head[0].split(" ")[1]);
  const headers = head.slice(1).map((l): [string, string] => {
    const i = l.indexOf(":");
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
  });
  return { status, headers, body: Buffer.from(raw.slice(end + 4), "latin1").toString("utf8") };
}

export function header(a: Answer, name: string): string | undefined {
  return a.headers.find(([n]) => n === name)?.[1];
}

/**
 * What must be equal through fnrun and from the image alone: status, body and every header
 * but those of the hop (connection, keep-alive), the time (date) and fnrun's own report
 * (x-fnrun-start, server-timing), sorted by name.
 */
export function comparable(a: Answer): { status: number; body: string; headers: [string, string][] } {
  const skip = new Set(["date", "connection", "keep-alive", "x-fnrun-start", "server-timing"]);
  return { status: a.status, body: a.body, headers: a.headers.filter(([n]) => !skip.has(n)).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)) };
}

/** The requests answered alike by fnrun's gateway and a standalone container. */
export const PARITY_CASES: CurlRequest[] = [
  { path: "/probe" },
  { path: "/probe/json" },
  { path: "/probe/throw" },
  { path: "/probe/not-a-response" },
  { path: "/probe/nope" },
  { method: "POST", path: "/probe", body: "ignored body" },
  { method: "POST", path: "/__fnrun/scheduled", headers: { "content-type": "application/json" }, body: '{"cron":"* * * * *","scheduledTime":1}' },
  { method: "POST", path: "/__fnrun/load", headers: { "content-type": "application/json" }, body: '{"entry":"/app/index.mjs"}' },
  { path: "/__fnrun/load" },
  { path: "/__fnrun" },
];

/** The answers to PARITY_CASES that show the cases test what they say (checked on fnrun's side). */
export function assertParityCasesMeanSomething(fnrun: Answer[]): void {
  const [hello, json, threw, notResponse, nope, , scheduled] = fnrun;
  assert.deepEqual([hello.status, hello.body, header(hello, "x-probe"), header(hello, "x-fnrun-forged")], [200, "hello from probe\n", "yes", undefined]);
  assert.deepEqual([json.status, JSON.parse(json.body)], [201, { ok: true, list: [1, 2, 3] }]);
  assert.deepEqual([threw.status, JSON.parse(threw.body)], [502, { error: "function threw", message: "probe failed on purpose" }]);
  assert.deepEqual([notResponse.status, JSON.parse(notResponse.body)], [502, { error: "function threw", message: "function returned an object (Object), not a Response" }]);
  assert.equal(nope.status, 404);
  assert.deepEqual([scheduled.status, JSON.parse(scheduled.body)], [400, { error: "bad request", code: "FNRUN_BAD_REQUEST", message: "bad request target: paths under /__fnrun/ are reserved for fnrun" }]);
  for (const a of fnrun) assert.equal(header(a, "x-fnrun-error"), undefined, "the gateway strips x-fnrun-error");
}
