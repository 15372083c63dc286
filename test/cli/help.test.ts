/**
 * The CLI's help is complete (every command listed and documented, every option of a command
 * in its help) and errors a user can fix print the fix without a stack trace (also as JSON).
 * No daemon needed: these run the real `fnrun` against a state dir where none listens.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { COMMAND_HELP, MAIN_HELP } from "../../cli/help.ts";
import { commands } from "../../cli/commands.ts";
import { OPTIONS } from "../../cli/main.ts";
import { cli } from "../helpers/daemon-process.ts";

const STACK = /\n\s+at /;

describe("fnrun --help and user errors", () => {
  let config: string;
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fnrun-help-"));
    config = join(dir, "config.toml");
    await writeFile(config, `[daemon]\nstate_dir = "${dir}/st"\n`);
  });
  after(() => dir && rm(dir, { recursive: true, force: true }));

  test("every command is in fnrun --help and has its own help naming each of its options", () => {
    for (const name of Object.keys(commands)) {
      assert.match(MAIN_HELP, new RegExp(`^  ${name}\\b`, "m"), `${name} in the main help`);
      assert.ok(COMMAND_HELP[name], `help for ${name}`);
      assert.match(COMMAND_HELP[name], new RegExp(`^Usage: fnrun ${name}\\b`), `${name} help starts with its usage`);
      for (const [opt, spec] of Object.entries(OPTIONS[name] ?? {})) {
        assert.ok(COMMAND_HELP[name].includes(`--${opt}`), `fnrun ${name} --help mentions --${opt}`);
        if (spec.short) assert.ok(COMMAND_HELP[name].includes(`-${spec.short}`), `fnrun ${name} --help mentions -${spec.short}`);
      }
    }
    for (const opt of ["--config", "--json", "--host", "--token-file", "--help"]) assert.ok(MAIN_HELP.includes(opt), opt);
  });

  test("fnrun COMMAND --help and fnrun help COMMAND print the command's help", async () => {
    for (const name of ["logs", "secret", "dev", "metrics", "deploy"]) {
      for (const args of [[name, "--help"], ["help", name]]) {
        const r = await cli(args);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, COMMAND_HELP[name]);
      }
    }
  });

  test("errors the user can fix: one line with the fix, no stack; --json: one JSON object", async () => {
    const cases: Array<[string[], RegExp, number]> = [
      [["ls", "--config", config], /cannot reach the fnrun daemon at .*; start it with `fnrun up`/, 1],
      [["ls", "--config", "/nonexistent/config.toml"], /no such file; create it/, 1],
      [["invoke", "x", "--data", "@/nonexistent/body", "--config", config], /^fnrun: open \/nonexistent\/body: no such file or directory; check the path$/m, 1],
      [["logs", "--config", config], /missing NAME/, 2],
      [["logs", "x", "--since", "soon", "--config", config], /--since: expected a duration like 10m/, 2],
      [["secret", "get", "x", "--config", config], /unknown action `get`/, 2],
      [["ls", "--host", "http://127.0.0.1:9"], /needs the daemon's control token/, 2],
      [["ls", "--host", "ftp://x", "--token-file", config], /only http:\/\/ is supported/, 2],
      [["dev", "/nonexistent/fns", "--config", config], /cannot read `\/nonexistent\/fns` \(ENOENT\)/, 2],
      [["nope"], /unknown command `nope`; run `fnrun --help`/, 2],
      [["deploy", "--bogus"], /Unknown option '--bogus'/, 2],
      // Global options before the command, as with docker and kubectl: the command runs with them.
      [["--config", config, "ls"], /cannot reach the fnrun daemon at .*st\/fnrun\.sock/, 1],
      [[`--config=${config}`, "--json", "logs"], /missing NAME/, 2],
      [["--host", "ftp://x", "--token-file", config, "ls"], /only http:\/\/ is supported/, 2],
      [["--config", config], /missing command after --config .*; run `fnrun --help`/, 2],
      [["--config"], /--config needs a value/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = await cli(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      assert.doesNotMatch(r.stderr, STACK, `${args.join(" ")} prints no stack`);
    }
    const json = await cli(["ls", "--json", "--config", config]);
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stderr) as { error: { message: string; kind: string } };
    assert.equal(parsed.error.kind, "user");
    assert.match(parsed.error.message, /cannot reach the fnrun daemon/);
  });
});
