/**
 * Operating fnrun, end to end on a real daemon (`fnrun up` child, real runc): function logs
 * tagged with invocation ids (also for concurrent invocations inside one instance), read by
 * time and invocation and followed; Prometheus metrics on the control listener only; the
 * control API on TCP behind a bearer token; secrets as env, never printed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Agent, request } from "undici";
import { MIN_ENV, ROOT, startDaemonProcess, until, type DaemonProcess } from "../helpers/daemon-process.ts";

const FIX = join(ROOT, "test/fixtures");
const TOKEN = "test-token-0123456789abcdef0123456789";
const SECRET = "s3cr3t-VALUE-never-printed-7f3a";

const CONFIG = (dir: string) => `
[gateway]
listen = "127.0.0.1:0"

[control]
listen = "127.0.0.1:0"
token_file = "${dir}/control.token"

[pool]
stem_cells = 1

[defaults]
memory = "96MiB"

[functions.tagger]
dir = "${FIX}/ops/tagger"
concurrency = 16
max_instances = 1

[functions.secretive]
dir = "${FIX}/ops/secretive"
env = { STAGE = "ops" }

[functions.hog]
dir = "${FIX}/ops/hog"
memory = "48MiB"

[functions.tight]
dir = "${FIX}/gateway/slow"
concurrency = 1
max_instances = 1
max_queue = 0
timeout = "1s"
`;

async function get(url: string, init: { headers?: Record<string, string> } = {}) {
  const res = await request(url, { headers: init.headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** GET over the daemon's unix control socket, as text. */
async function controlText(d: DaemonProcess, path: string): Promise<{ status: number; text: string; type: string }> {
  const agent = new Agent({ connect: { socketPath: join(d.stateDir, "fnrun.sock") } });
  try {
    const res = await request(`http://fnrun${path}`, { dispatcher: agent });
    return { status: res.statusCode, text: await res.body.text(), type: String(res.headers["content-type"]) };
  } finally {
    await agent.close();
  }
}

/** Prometheus text format → samples (name, labels, value); HELP/TYPE lines checked for shape. */
function parseProm(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      assert.match(line, /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/, `bad comment line: ${line}`);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function sample(samples: ReturnType<typeof parseProm>, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe("operating fnrun: logs, metrics, remote control, secrets", { timeout: 600_000 }, () => {
  let d: DaemonProcess;
  let controlUrl: string;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "fnrun-ops-"));
    await writeFile(join(dir, "control.token"), `${TOKEN}\n`, { mode: 0o600 });
    d = await startDaemonProcess(CONFIG(dir), { dir });
    controlUrl = (/control API listening on (http:\/\/[^"\s]+)/.exec(d.log()) ?? [])[1];
    assert.ok(controlUrl, d.log());
  });
  after(async () => {
    await d?.stop("SIGTERM");
    if (d) await rm(d.dir, { recursive: true, force: true }); // its state dir holds images
  });

  const ids = new Map<string, string>();

  test("log lines carry the id of the invocation that wrote them, also for concurrent invocations in one instance", async () => {
    // Two overlapping waves: invocations start while others run, and after some have ended.
    const tags = Array.from({ length: 16 }, (_, i) => `t${i}`);
    const answers = await Promise.all(tags.map((t, i) => new Promise((r) => setTimeout(r, i < 8 ? 0 : 15 + i * 3)).then(() => get(`${d.url}/tagger?tag=${t}`))));
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200);
      assert.match(a.text, /^[\w.:-]+$/);
      ids.set(tags[i], a.text);
    }
    assert.equal(new Set(ids.values()).size, tags.length, "each invocation has its own id");
    const lines = await until("all tagged lines in the log", async () => {
      const out = await d.cli(["logs", "tagger", "--json", "--since", "10m"]);
      assert.equal(out.code, 0, out.stderr);
      const parsed = out.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { instance: string; stream: string; invocation: string | null; text: string });
      const mine = parsed.filter((l) => /^tagger t\d+ /.test(l.text));
      return mine.length >= tags.length * 9 ? mine : null;
    });
    assert.equal(lines.length, tags.length * 9);
    assert.equal(new Set(lines.map((l) => l.instance)).size, 1, "all served by one instance (max_instances = 1)");
    for (const l of lines) {
      const tag = /^tagger (t\d+) /.exec(l.text)![1];
      assert.equal(l.invocation, ids.get(tag), `line "${l.text}" is tagged with its own invocation`);
      assert.ok(!l.text.includes("\u001e"), "the marker never reaches the stored text");
    }
    // A write split across two calls is one line with one tag.
    assert.equal(lines.filter((l) => /^tagger t\d+ part two \d$/.test(l.text)).length, tags.length * 3);
    // The stored form: `<ISO> <instance> <stream> inv=<id> <text>`.
    const file = await readFile(join(d.stateDir, "logs", "tagger.log"), "utf8");
    assert.match(file, new RegExp(`^\\S+Z \\S+ stdout inv=${ids.get("t3")!.replace(/[.]/g, "\\.")} tagger t3 step 0$`, "m"));
  });

  test("fnrun logs --invocation shows one invocation's lines; --since filters by time; bad values say the fix", async () => {
    const out = await d.cli(["logs", "tagger", "--invocation", ids.get("t5")!]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.split("\n").filter(Boolean);
    assert.equal(lines.length, 9, out.stdout);
    for (const l of lines) assert.match(l, / tagger t5 /);
    const future = await d.cli(["logs", "tagger", "--since", new Date(Date.now() + 3600_000).toISOString()]);
    assert.equal(future.code, 0, future.stderr);
    assert.equal(future.stdout, "");
    const bad = await d.cli(["logs", "tagger", "--since", "yesterday"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since: expected a duration like 10m/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /, "no stack trace");
  });

  test("fnrun logs -f prints lines as they are written", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin/fnrun.mjs"), "logs", "tagger", "-f", "--tail", "1", "--config", d.configPath], { env: MIN_ENV, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    try {
      await until("follower started", async () => out.length > 0, 30_000);
      const id = (await get(`${d.url}/tagger?tag=f9`)).text;
      await until("followed lines", async () => (out.match(/ tagger f9 /g) ?? []).length === 9, 30_000);
      assert.match(out, new RegExp(`inv=${id.replace(/[.]/g, "\\.")} tagger f9 step 2`));
    } finally {
      child.kill("SIGTERM");
    }
  });

  test("/metrics on the control socket: Prometheus text with invocations, starts, phases, gauges, rejections, timeouts, deploy times", async () => {
    // One 504 and some 429s on `tight` (one slot, no queue, 1 s timeout).
    const timedOut = get(`${d.url}/tight?ms=3000`);
    await until("tight busy", async () => (await controlText(d, "/v1/functions")).text.includes('"busy":1'), 30_000);
    const rejected = await Promise.all([1, 2, 3].map(() => get(`${d.url}/tight?ms=10`)));
    assert.ok(rejected.some((r) => r.status === 429), JSON.stringify(rejected.map((r) => r.status)));
    assert.equal((await timedOut).status, 504);

    // One OOM kill: the kernel kills `hog` at its 48 MiB limit.
    const oom = await get(`${d.url}/hog?mib=200`);
    assert.equal(oom.status, 502, oom.text);
    assert.match(oom.text, /ran out of memory/);

    const res = await controlText(d, "/metrics");
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    const s = parseProm(res.text);
    assert.ok(sample(s, "fnrun_invocations_total", { function: "tagger", status: "200" })! >= 9);
    assert.ok(sample(s, "fnrun_invocation_duration_seconds_count", { function: "tagger" })! >= 9);
    assert.ok(sample(s, "fnrun_invocation_duration_seconds_bucket", { function: "tagger", le: "+Inf" })! >= 9);
    const starts = ["warm", "stem", "cold"].map((kind) => sample(s, "fnrun_starts_total", { function: "tagger", kind }) ?? 0);
    assert.ok(starts.reduce((a, b) => a + b) >= 9, `starts: ${starts}`);
    assert.ok(sample(s, "fnrun_start_phase_seconds_count", { kind: "warm", phase: "queue" })! >= 1);
    assert.ok(sample(s, "fnrun_rejected_total", { function: "tight", status: "429" })! >= 1);
    assert.equal(sample(s, "fnrun_timeouts_total", { function: "tight" }), 1);
    assert.equal(sample(s, "fnrun_invocations_total", { function: "tight", status: "504" }), 1);
    assert.ok(sample(s, "fnrun_deploy_step_seconds_count", { function: "tagger", step: "build" })! >= 1);
    assert.ok(sample(s, "fnrun_instances", { function: "tagger", state: "idle" })! + sample(s, "fnrun_instances", { function: "tagger", state: "busy" })! >= 1);
    assert.equal(sample(s, "fnrun_stem_cells", { state: "target" }), 1);
    assert.ok(sample(s, "fnrun_memory_bytes", { kind: "budget" })! > 0);
    assert.equal(sample(s, "fnrun_oom_kills_total", { function: "hog" }), 1);
    assert.equal(sample(s, "fnrun_invocations_total", { function: "hog", status: "502" }), 1);
    // Never on the public listener.
    assert.equal((await get(`${d.url}/metrics`)).status, 404);
  });

  test("the TCP control listener needs the bearer token: none, wrong, or in the query string → 401", async () => {
    const url = `${controlUrl}/v1/health`;
    assert.equal((await get(url)).status, 401);
    assert.equal((await get(url, { headers: { authorization: "Bearer wrong-token-0123456789abcdef" } })).status, 401);
    assert.equal((await get(url, { headers: { authorization: `Basic ${TOKEN}` } })).status, 401);
    assert.equal((await get(`${url}?token=${TOKEN}`)).status, 401);
    assert.equal((await get(`${url}?access_token=${TOKEN}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401, "a token in the URL is refused even with a good header");
    assert.equal((await get(`${controlUrl}/metrics`)).status, 401);
    const ok = await get(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.text).ok, true);
    assert.equal((await get(`${controlUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.equal((await stat(join(d.stateDir, "fnrun.sock"))).mode & 0o777, 0o600, "the unix socket stays 0600");
  });

  test("the CLI talks to a remote daemon with --host and --token-file (or FNRUN_TOKEN)", async () => {
    const tokenFile = join(d.dir, "control.token");
    const ls = await d.cli(["ls", "--json", "--host", controlUrl, "--token-file", tokenFile]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok((JSON.parse(ls.stdout).functions as Array<{ name: string }>).some((f) => f.name === "tagger"));
    const wrongFile = join(d.dir, "wrong.token");
    await writeFile(wrongFile, "not-the-token-0123456789abcdef\n");
    const wrong = await d.cli(["ls", "--host", controlUrl, "--token-file", wrongFile]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the token \(401\); pass the daemon's \[control\] token_file/);
    const invoked = await d.cli(["invoke", "tagger", "-p", "/tagger?tag=remote", "--host", controlUrl, "--token-file", tokenFile]);
    assert.equal(invoked.code, 0, invoked.stderr);
    const remoteLogs = await d.cli(["logs", "tagger", "--invocation", invoked.stdout, "--host", controlUrl, "--token-file", tokenFile]);
    assert.equal(remoteLogs.stdout.split("\n").filter((l) => l.includes(" tagger remote ")).length, 9, remoteLogs.stdout);
    const asJson = await d.cli(["invoke", "secretive", "--json", "--host", controlUrl, "--token-file", tokenFile]);
    assert.equal(asJson.code, 0, asJson.stderr);
    const answer = JSON.parse(asJson.stdout) as { status: number; headers: Record<string, string>; body: string };
    assert.equal(answer.status, 200);
    assert.match(answer.headers["content-type"], /json/);
    assert.equal(JSON.parse(answer.body).stage, "ops");
    const noToken = await d.cli(["ls", "--host", controlUrl]);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /needs the daemon's control token: pass --token-file FILE or set FNRUN_TOKEN/);
  });

  test("secrets: set from stdin → the function gets it as env after a redeploy; ls shows keys only; never in ls, logs or metrics; rm removes it", async () => {
    const before = JSON.parse((await get(`${d.url}/secretive`)).text);
    assert.deepEqual(before, { has: false, sha256: null, stage: "ops" });
    const set = await d.cli(["secret", "set", "secretive", "API_KEY"], { input: `${SECRET}\n` });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /set secret API_KEY of secretive \(redeployed/);
    const after = JSON.parse((await get(`${d.url}/secretive`)).text);
    assert.deepEqual(after, { has: true, sha256: createHash("sha256").update(SECRET).digest("hex"), stage: "ops" });

    const file = join(d.stateDir, "secrets", "secretive.json");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(d.stateDir, "secrets"))).mode & 0o777, 0o700);
    const ls = await d.cli(["secret", "ls", "secretive", "--json"]);
    assert.deepEqual(JSON.parse(ls.stdout), { name: "secretive", keys: ["API_KEY"] });

    const places = [
      (await d.cli(["ls", "--json"])).stdout,
      (await d.cli(["secret", "ls", "secretive"])).stdout,
      (await d.cli(["logs", "secretive", "--tail", "10000"])).stdout,
      (await controlText(d, "/metrics")).text,
      (await controlText(d, "/v1/invocations?limit=1000")).text,
      d.log(),
      await readFile(join(d.stateDir, "deployments.json"), "utf8").catch(() => ""),
    ];
    for (const p of places) assert.ok(!p.includes(SECRET), "the secret value is never printed");
    // Nor in the image store or build contexts (it is never baked in).
    for (const dir of ["build", "images"]) {
      const hits = await grepDir(join(d.stateDir, dir), SECRET);
      assert.deepEqual(hits, [], `secret found under ${dir}`);
    }

    const rm = await d.cli(["secret", "rm", "secretive", "API_KEY"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(JSON.parse((await get(`${d.url}/secretive`)).text), { has: false, sha256: null, stage: "ops" });
    const again = await d.cli(["secret", "rm", "secretive", "API_KEY"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /has no secret API_KEY/);
    const badKey = await d.cli(["secret", "set", "secretive", "1BAD"], { input: "x" });
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /KEY must be an environment variable name/);
  });
});

/** Files under `dir` (not following links) whose bytes contain `needle`. */
async function grepDir(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && (await stat(p)).size < 64 * 1024 * 1024 && (await readFile(p)).includes(needle)) hits.push(p);
    }
  };
  await walk(dir);
  return hits;
}
