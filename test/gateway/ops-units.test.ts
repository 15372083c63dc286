/**
 * The pieces behind `fnrun logs`, the TCP control listener and secrets, without containers:
 * the invocation marker (bootstrap side and host side), log line parsing, following a log
 * across rotation, bearer token checks, [control] config keys, the secret store's files.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, test } from "node:test";
import { parseTag, runTagged, tagLines, tagStream } from "../../runtime/bootstrap/console-tag.ts";
import { FunctionLogs } from "../../runtime/function-logs.ts";
import { OutputReader } from "../../runtime/instance-output.ts";
import { ConfigError, parseConfig } from "../../gateway/config.ts";
import { followLog, parseLogLine, parseSince, readLog } from "../../gateway/log-reader.ts";
import { authorized } from "../../gateway/remote-control.ts";
import { SecretStore } from "../../gateway/secrets.ts";

/** A temp dir of this file's, removed when the file's tests end. */
const made: string[] = [];
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));
const tmp = async () => {
  const dir = await mkdtemp(join(tmpdir(), "fnrun-u-"));
  made.push(dir);
  return dir;
};

describe("invocation tags", () => {
  test("tagLines marks each line start; parseTag takes the marker off", () => {
    const t = tagLines("a\nb\n\nc", "gw1.x", true);
    assert.deepEqual(t.split("\n").map(parseTag), [
      { invocation: "gw1.x", text: "a" },
      { invocation: "gw1.x", text: "b" },
      { invocation: "gw1.x", text: "" },
      { invocation: "gw1.x", text: "c" },
    ]);
    assert.equal(tagLines("rest\n", "i", false), "rest\n", "a continued line gets no second marker");
    assert.deepEqual(parseTag("plain"), { invocation: null, text: "plain" });
    assert.deepEqual(parseTag("\u001eINV bad id\u001fx"), { invocation: null, text: "\u001eINV bad id\u001fx" });
  });

  test("tagStream tags writes made inside runTagged, per async context, and nothing outside", async () => {
    const sink = new PassThrough();
    let out = "";
    sink.on("data", (c) => (out += c));
    const stream = sink as unknown as NodeJS.WriteStream;
    tagStream(stream);
    stream.write("outside\n");
    const work = (id: string) =>
      runTagged(id, async () => {
        stream.write(`${id} one\n`);
        await new Promise((r) => setTimeout(r, 5));
        stream.write(`${id} two `);
        stream.write(Buffer.from(`${id} same line\n`));
      });
    await Promise.all([work("a1"), work("b2")]);
    runTagged("bad id!", () => stream.write("not tagged\n"));
    const lines = out.split("\n").filter(Boolean).map(parseTag);
    assert.deepEqual(lines.find((l) => l.text === "outside"), { invocation: null, text: "outside" });
    for (const id of ["a1", "b2"]) {
      assert.deepEqual(lines.filter((l) => l.text.startsWith(id)), [
        { invocation: id, text: `${id} one` },
        { invocation: id, text: `${id} two ${id} same line` },
      ]);
    }
    assert.deepEqual(lines.at(-1), { invocation: null, text: "not tagged" });
  });
});

describe("instance output on the host", () => {
  test("the marker becomes the line's invocation, also for the rest of a line cut for length", async () => {
    const got: Array<[string, string | null | undefined]> = [];
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const reader = new OutputReader("i-1", () => "f", { line: (_i, _f, _s, text, inv) => got.push([text.slice(0, 12), inv]) }, { stdout, stderr });
    stdout.write(tagLines("hello\n", "inv-1", true));
    stdout.write("untagged\n");
    stdout.write(tagLines(`${"x".repeat(20_000)}`, "inv-2", true));
    stdout.write(`${"y".repeat(10)}\nafter\n`);
    stdout.end();
    stderr.end();
    await reader.ended(1000);
    assert.deepEqual(got, [["hello", "inv-1"], ["untagged", null], ["xxxxxxxxxxxx", "inv-2"], ["yyyyyyyyyy", "inv-2"], ["after", null]]);
  });
});

describe("log reading", () => {
  test("parseLogLine reads instance lines (tagged or not), fnrun notes and timeout lines", () => {
    assert.deepEqual(parseLogLine("2026-01-01T00:00:00.000Z fn-1 stdout inv=gw.5 hello there"), { time: "2026-01-01T00:00:00.000Z", instance: "fn-1", stream: "stdout", invocation: "gw.5", text: "hello there", raw: "2026-01-01T00:00:00.000Z fn-1 stdout inv=gw.5 hello there" });
    assert.equal(parseLogLine("2026-01-01T00:00:00.000Z fn-1 stderr plain").invocation, null);
    assert.equal(parseLogLine("2026-01-01T00:00:00.000Z fnrun - [fnrun: log truncated]").instance, "fnrun");
    assert.equal(parseLogLine("fnrun: 2026-01-01T00:00:00.000Z invocation gw.9 (GET /x) timed out after 5 ms").invocation, "gw.9");
  });

  test("parseSince takes durations and ISO dates and says what it expects", () => {
    assert.equal(parseSince("10m", 1_000_000), 400_000);
    assert.equal(parseSince("1h30m", 10_000_000), 10_000_000 - 5_400_000);
    assert.equal(parseSince("2026-01-01T00:00:00Z"), Date.parse("2026-01-01T00:00:00Z"));
    assert.throws(() => parseSince("yesterday"), /expected a duration like 10m, 1h or 30s, or an ISO date/);
  });

  test("readLog filters by time and invocation over the rotated and current file; followLog follows across rotation", async () => {
    const dir = await tmp();
    const logs = new FunctionLogs({ dir, maxBytes: 400 });
    await logs.init();
    for (let i = 0; i < 8; i++) logs.line("fn-1", "f", "stdout", `early ${i}`, i % 2 ? "odd" : "even");
    await new Promise((r) => setTimeout(r, 100)); // rotation is asynchronous
    const all = await readLog(logs.pathOf("f"));
    assert.ok(all.lines.some((l) => l.includes("log truncated")), "the new file says it was truncated");
    assert.deepEqual((await readLog(logs.pathOf("f"), { invocation: "odd" })).lines.map((l) => parseLogLine(l).text), ["early 1", "early 3", "early 5", "early 7"]);
    assert.deepEqual((await readLog(logs.pathOf("f"), { since: Date.now() + 60_000 })).lines, []);

    const seen: string[] = [];
    const stop = new AbortController();
    const following = followLog(logs.pathOf("f"), all, { invocation: "late" }, (l) => seen.push(parseLogLine(l).text), stop.signal, 20);
    for (let i = 0; i < 12; i++) {
      logs.line("fn-1", "f", "stderr", `late ${i} ${"x".repeat(40)}`, "late");
      await new Promise((r) => setTimeout(r, 15));
    }
    await new Promise((r) => setTimeout(r, 200));
    stop.abort();
    await following;
    await logs.close();
    assert.deepEqual(seen.map((t) => t.split(" ").slice(0, 2).join(" ")), Array.from({ length: 12 }, (_, i) => `late ${i}`), "every line once, in order, across rotations");
  });
});

describe("control token and config", () => {
  const TOKEN = "0123456789abcdef0123";
  const req = (url: string, auth?: string) => new Request(url, { headers: auth ? { authorization: auth } : {} });

  test("authorized: only the exact bearer token, never in the URL", () => {
    assert.equal(authorized(req("http://c/v1/health", `Bearer ${TOKEN}`), TOKEN), true);
    assert.equal(authorized(req("http://c/v1/health", `bearer ${TOKEN}`), TOKEN), true);
    assert.equal(authorized(req("http://c/v1/health"), TOKEN), false);
    assert.equal(authorized(req("http://c/v1/health", `Bearer ${TOKEN}x`), TOKEN), false);
    assert.equal(authorized(req("http://c/v1/health", `Bearer ${TOKEN.slice(1)}`), TOKEN), false);
    assert.equal(authorized(req("http://c/v1/health", TOKEN), TOKEN), false);
    assert.equal(authorized(req(`http://c/v1/health?token=${TOKEN}`), TOKEN), false);
    assert.equal(authorized(req(`http://c/v1/health?x=${TOKEN}`, `Bearer ${TOKEN}`), TOKEN), false);
    assert.equal(authorized(req(`http://c/v1/health?token=nope`, `Bearer ${TOKEN}`), TOKEN), false);
    assert.equal(authorized(req(`http://c/v1/invocations?limit=5`, `Bearer ${TOKEN}`), TOKEN), true);
  });

  test("[control] listen needs token_file; token_file is resolved against the config's folder", () => {
    const err = (() => {
      try {
        parseConfig(`[control]\nlisten = "127.0.0.1:7070"\n`, { root: "/srv/fn" });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /control\.listen: a TCP control listener needs a bearer token: set control\.token_file/);
    const { config } = parseConfig(`[control]\nlisten = "0.0.0.0:7070"\ntoken_file = "secrets/control.token"\n`, { root: "/srv/fn" });
    assert.deepEqual(config.control.listen, { host: "0.0.0.0", port: 7070 });
    assert.equal(config.control.tokenFile, "/srv/fn/secrets/control.token");
    assert.throws(() => parseConfig(`[control]\nlisten = "nope"\ntoken_file = "t"\n`, { root: "/srv/fn" }), /control\.listen: expected "host:port"/);
  });
});

describe("secret store", () => {
  test("values in a 0600 file in a 0700 dir; keys listed; reloaded; bad keys refused", async () => {
    const state = await tmp();
    const s = new SecretStore(state);
    await s.init();
    await s.set("api", "TOKEN", "v1");
    await s.set("api", "OTHER", "v2");
    assert.deepEqual(s.keys("api"), ["OTHER", "TOKEN"]);
    assert.equal((await stat(join(state, "secrets", "api.json"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(state, "secrets"))).mode & 0o777, 0o700);
    const again = new SecretStore(state);
    await again.init();
    assert.deepEqual(again.envFor("api"), { TOKEN: "v1", OTHER: "v2" });
    assert.equal(await again.remove("api", "TOKEN"), true);
    assert.equal(await again.remove("api", "TOKEN"), false);
    assert.deepEqual(JSON.parse(await readFile(join(state, "secrets", "api.json"), "utf8")), { OTHER: "v2" });
    await assert.rejects(s.set("api", "FNRUN_ENTRY", "x"), /FNRUN_\* names are the platform's/);
    await assert.rejects(s.set("api", "1X", "x"), /expected an environment variable name/);
    await assert.rejects(s.set("../etc", "K", "x"), /expected a function name/);
    await writeFile(join(state, "secrets", "README"), "ignored");
    await new SecretStore(state).init();
  });
});
