import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { TomlError } from "smol-toml";
import {
  ConfigError, defaultConfig, defaultWorkers, functionConfigFor, loadConfig, parseConfig, parseDuration, parseSize,
} from "../../gateway/config.ts";
import { formatDuration, formatSize } from "../../gateway/units.ts";

const ROOT = "/srv/app";
const FILE = "/srv/app/config.toml";
const MiB = 2 ** 20;
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/config");

/** The ConfigError parseConfig throws for `text`. */
function configError(text: string): ConfigError {
  try {
    parseConfig(text, { path: FILE, root: ROOT });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.code, "FNRUN_CONFIG_INVALID");
    assert.equal(err.kind, "user");
    return err;
  }
  assert.fail("parseConfig did not throw");
}

/** The error lines of parseConfig(text), without the file prefix. */
function errors(text: string): string[] {
  return configError(text).diagnostics.filter((d) => d.level === "error").map((d) => `${d.key}: ${d.message}`);
}

describe("parseConfig: a valid config", () => {
  test("an empty file gives every default", () => {
    const { config, warnings } = parseConfig("", { path: FILE, root: ROOT });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config, {
      path: FILE,
      root: ROOT,
      gateway: { listen: { host: "127.0.0.1", port: 8080 }, maxBodyBytes: 6 * MiB, workers: defaultWorkers() },
      daemon: { stateDir: "/srv/app/.fnrun" },
      control: { socket: "/srv/app/.fnrun/fnrun.sock" },
      build: { engine: "embedded" },
      pool: { stemCells: 2, memoryBudgetBytes: 2 * 2 ** 30, idleTimeoutMs: 300_000 },
      defaults: {
        memoryBytes: 128 * MiB, cpu: 0.5, timeoutMs: 30_000, concurrency: 16,
        minInstances: 0, maxInstances: 10, maxQueue: 100, pids: 64, tmpBytes: 16 * MiB,
      },
      functions: new Map(),
    });
    assert.deepEqual(config, { ...defaultConfig(ROOT), path: FILE });
  });

  test("a function gets the defaults, default routes, and a dir relative to config.toml", () => {
    const { config } = parseConfig(`
      [defaults]
      memory = "256MiB"
      [functions.hello]
      dir = "functions/hello"
      [functions.abs]
      dir = "/opt/fn"
    `, { path: FILE, root: ROOT });
    assert.deepEqual(config.functions.get("hello"), {
      name: "hello",
      dir: "/srv/app/functions/hello",
      routes: [{ method: "*", path: "/hello" }, { method: "*", path: "/hello/*" }],
      memoryBytes: 256 * MiB, cpu: 0.5, timeoutMs: 30_000, concurrency: 16,
      minInstances: 0, maxInstances: 10, maxQueue: 100, pids: 64, tmpBytes: 16 * MiB,
      env: {},
    });
    assert.equal(config.functions.get("abs")!.dir, "/opt/fn");
  });

  test("every key set", () => {
    const { config, warnings } = parseConfig(`
      [gateway]
      listen = "[::1]:0"
      max_body = "1MB"
      workers = 2
      [daemon]
      state_dir = "../state"
      [control]
      [pool]
      stem_cells = 0
      memory_budget = "1GiB"
      idle_timeout = 90
      [defaults]
      cpu = 1
      [functions.nightly-report]
      dir = "./functions/report/"
      routes = ["GET /report", "POST /report/:id", "/report/files/*", "/"]
      memory = "64MiB"
      cpu = 0.25
      timeout = "1m30s"
      concurrency = 1
      min_instances = 1
      max_instances = 1
      max_queue = 0
      pids = 8
      tmp = "1MiB"
      env = { REPORT_BUCKET = "reports", EMPTY = "" }
      schedule = "0 3 * * *"
      timezone = "Europe/Berlin"
    `, { path: FILE, root: ROOT });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.gateway, { listen: { host: "::1", port: 0 }, maxBodyBytes: 1_000_000, workers: 2 });
    assert.equal(config.daemon.stateDir, "/srv/state");
    assert.equal(config.control.socket, "/srv/state/fnrun.sock");
    assert.deepEqual(config.pool, { stemCells: 0, memoryBudgetBytes: 2 ** 30, idleTimeoutMs: 90_000 });
    assert.equal(config.defaults.cpu, 1);
    assert.deepEqual(config.functions.get("nightly-report"), {
      name: "nightly-report",
      dir: "/srv/app/functions/report",
      routes: [
        { method: "GET", path: "/report" },
        { method: "POST", path: "/report/:id" },
        { method: "*", path: "/report/files/*" },
        { method: "*", path: "/" },
      ],
      memoryBytes: 64 * MiB, cpu: 0.25, timeoutMs: 90_000, concurrency: 1,
      minInstances: 1, maxInstances: 1, maxQueue: 0, pids: 8, tmpBytes: MiB,
      env: { REPORT_BUCKET: "reports", EMPTY: "" },
      schedule: "0 3 * * *",
      timezone: "Europe/Berlin",
    });
  });

  test("without a path, root alone anchors relative paths", () => {
    const { config } = parseConfig(`[daemon]\nstate_dir = "s"\n[functions.a]\ndir = "a"`, { root: "/r" });
    assert.equal(config.path, null);
    assert.equal(config.root, "/r");
    assert.equal(config.daemon.stateDir, "/r/s");
    assert.equal(config.functions.get("a")!.dir, "/r/a");
  });

  test("an env key named __proto__ is kept as a plain key", () => {
    const { config } = parseConfig(`[functions.a]\ndir = "a"\nenv = { __proto__ = "x" }`, { root: "/r" });
    const env = config.functions.get("a")!.env;
    assert.equal(Object.getPrototypeOf(env), Object.prototype);
    assert.deepEqual(Object.entries(env), [["__proto__", "x"]]);
  });
});

describe("[gateway] workers", () => {
  test("defaults to half the cores, 1 to 8; a number in config.toml wins", () => {
    assert.deepEqual([1, 2, 3, 4, 16, 64].map((n) => defaultWorkers(n)), [1, 1, 1, 2, 8, 8]);
    assert.equal(parseConfig(`[gateway]\nworkers = 3`, { root: ROOT }).config.gateway.workers, 3);
    assert.equal(parseConfig(``, { root: ROOT }).config.gateway.workers, defaultWorkers());
  });
});

describe("parseConfig: errors name the key and what was expected", () => {
  const cases: Array<[string, string, string]> = [
    ["size", `[functions.hello]\ndir = "h"\nmemory = "lots"`, `functions.hello.memory: expected a size like "128MiB", got "lots"`],
    ["whole number", `[pool]\nstem_cells = "two"`, `pool.stem_cells: expected a whole number ≥ 0, got "two"`],
    ["negative number", `[pool]\nstem_cells = -1`, `pool.stem_cells: expected a whole number ≥ 0, got -1`],
    ["fraction", `[defaults]\nconcurrency = 1.5`, `defaults.concurrency: expected a whole number ≥ 1, got 1.5`],
    ["concurrency 0", `[defaults]\nconcurrency = 0`, `defaults.concurrency: expected a whole number ≥ 1, got 0`],
    ["pids below 8", `[defaults]\npids = 4`, `defaults.pids: expected a whole number ≥ 8, got 4`],
    ["no gateway workers", `[gateway]\nworkers = 0`, `gateway.workers: expected a whole number ≥ 1, got 0`],
    ["too many gateway workers", `[gateway]\nworkers = 65`, `gateway.workers: expected a whole number from 1 to 64, got 65`],
    ["memory below 16MiB", `[defaults]\nmemory = "8MiB"`, `defaults.memory: expected a size of at least 16MiB, got "8MiB"`],
    ["tmp 0", `[defaults]\ntmp = 0`, `defaults.tmp: expected a size of at least 1MiB, got 0`],
    ["ambiguous size unit", `[gateway]\nmax_body = "6m"`, `gateway.max_body: expected a size like "128MiB", got "6m"`],
    ["duration", `[defaults]\ntimeout = "soon"`, `defaults.timeout: expected a duration like "30s", got "soon"`],
    ["zero timeout", `[defaults]\ntimeout = "0s"`, `defaults.timeout: expected a duration greater than 0, like "30s", got "0s"`],
    ["cpu too high", `[defaults]\ncpu = 65`, `defaults.cpu: expected a share of one core from 0.01 to 64, like 0.5, got 65`],
    ["cpu as string", `[defaults]\ncpu = "half"`, `defaults.cpu: expected a share of one core from 0.01 to 64, like 0.5, got "half"`],
    ["listen without port", `[gateway]\nlisten = "localhost"`, `gateway.listen: expected "host:port" like "127.0.0.1:8080", got "localhost"`],
    ["listen port too big", `[gateway]\nlisten = "127.0.0.1:65536"`, `gateway.listen: expected "host:port" like "127.0.0.1:8080", got "127.0.0.1:65536"`],
    ["section not a table", `pool = 3`, `pool: expected a table ([pool]), got 3`],
    ["state_dir empty", `[daemon]\nstate_dir = ""`, `daemon.state_dir: expected a non-empty string, got ""`],
    ["missing dir", `[functions.hello]\nmemory = "64MiB"`, `functions.hello.dir: missing; expected the function's folder relative to config.toml, like "functions/hello"`],
    ["dir not a string", `[functions.hello]\ndir = 1`, `functions.hello.dir: expected a non-empty string, got 1`],
    ["function not a table", `[functions]\nhello = "functions/hello"`, `functions.hello: expected a table like [functions.hello] with dir = "functions/hello", got "functions/hello"`],
    ["function name", `[functions.Hello_World]\ndir = "h"`, `functions.Hello_World: expected a function name of lowercase letters, digits and "-", starting with a letter or digit, at most 40 characters, got "Hello_World"`],
    ["function name too long", `[functions.${"a".repeat(41)}]\ndir = "h"`, `functions.${"a".repeat(41)}: expected a function name of lowercase letters, digits and "-", starting with a letter or digit, at most 40 characters, got "${"a".repeat(41)}"`],
    ["env value not a string", `[functions.hello]\ndir = "h"\nenv = { PORT = 8080 }`, `functions.hello.env.PORT: expected a string, got 8080 (quote it: "8080")`],
    ["env value a table", `[functions.hello]\ndir = "h"\n[functions.hello.env]\nDB = { host = "x" }`, `functions.hello.env.DB: expected a string, got a table`],
    ["env reserved key", `[functions.hello]\ndir = "h"\nenv = { FNRUN_ENTRY = "/x" }`, `functions.hello.env.FNRUN_ENTRY: names starting with FNRUN_ are reserved for fnrun`],
    ["env bad key", `[functions.hello]\ndir = "h"\nenv = { "MY KEY" = "x" }`, `functions.hello.env."MY KEY": expected an environment variable name like "API_URL" (letters, digits, "_")`],
    ["env not a table", `[functions.hello]\ndir = "h"\nenv = "A=1"`, `functions.hello.env: expected a table ([functions.hello.env]), got "A=1"`],
    ["schedule not a string", `[functions.hello]\ndir = "h"\nschedule = 5`, `functions.hello.schedule: expected a cron expression of 5 fields like "0 3 * * *" (minute hour day-of-month month day-of-week) or one of @yearly @annually @monthly @weekly @daily @midnight @hourly, got 5`],
    ["max below min", `[functions.hello]\ndir = "h"\nmin_instances = 3\nmax_instances = 2`, `functions.hello.max_instances: expected a whole number ≥ min_instances (3), got 2`],
    ["min above default max", `[functions.hello]\ndir = "h"\nmin_instances = 11`, `functions.hello.min_instances: expected a whole number ≤ max_instances (10), got 11`],
    ["routes not an array", `[functions.hello]\ndir = "h"\nroutes = "/hello"`, `functions.hello.routes: expected an array of routes like ["GET /hello", "/hello/:name"], got "/hello"`],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errors(text), [expected]));
  }

  test("a control socket path too long for sun_path", () => {
    const long = "d".repeat(100);
    assert.deepEqual(errors(`[daemon]\nstate_dir = "${long}"`), [
      `daemon.state_dir: the control socket /srv/app/${long}/fnrun.sock would be 120 bytes long; ` +
        `unix socket paths are limited to 107 bytes, so choose a shorter state_dir`,
    ]);
  });
});

describe("parseConfig: routes", () => {
  const bad: Array<[string, string]> = [
    ["get /x", `expected a method out of GET HEAD POST PUT PATCH DELETE OPTIONS (or none for all), got "get /x"`],
    ["FETCH /x", `expected a method out of GET HEAD POST PUT PATCH DELETE OPTIONS (or none for all), got "FETCH /x"`],
    ["hello", `expected a route like "GET /hello/:name" or "/hello/*", got "hello"`],
    ["GET /a /b", `expected a route like "GET /hello/:name" or "/hello/*", got "GET /a /b"`],
    ["", `expected a route like "GET /hello/:name" or "/hello/*", got ""`],
    ["/a/../b", `"/a/../b": "." and ".." segments are not allowed`],
    ["/a/./b", `"/a/./b": "." and ".." segments are not allowed`],
    ["/a/%2e%2e/b", `"/a/%2e%2e/b": "%" is not allowed; write the path decoded`],
    ["/a\0b", `"/a\\u0000b": "\\u0000" is not allowed in a route path`],
    ["/a\\b", `"/a\\\\b": "\\\\" is not allowed in a route path`],
    ["/a?b=1", `"/a?b=1": "?" is not allowed in a route path`],
    ["/a#b", `"/a#b": "#" is not allowed in a route path`],
    ["/a//b", `"/a//b": empty path segment ("//" or a trailing "/")`],
    ["/a/", `"/a/": empty path segment ("//" or a trailing "/")`],
    ["/*/a", `"/*/a": "*" is only allowed as the last segment`],
    ["/a*", `"/a*": "*" is not allowed in a route path`],
    ["/:", `"/:": expected a parameter name like ":id", got ":"`],
    ["/:id{[0-9]+}", `"/:id{[0-9]+}": expected a parameter name like ":id", got ":id{[0-9]+}"`],
    ["/:id/x/:id", `"/:id/x/:id": parameter ":id" appears twice`],
  ];
  for (const [route, message] of bad) {
    test(`rejects ${JSON.stringify(route)}`, () => {
      const text = `[functions.hello]\ndir = "h"\nroutes = [${JSON.stringify(route)}]`;
      assert.deepEqual(errors(text), [`functions.hello.routes[0]: ${message}`]);
    });
  }

  test("accepts methods, params, wildcards and extra spaces", () => {
    const { config } = parseConfig(`[functions.hello]\ndir = "h"\nroutes = ["  DELETE   /users/:user_id ", "OPTIONS /*", "* /a-b.c~d/@e"]`, { root: ROOT });
    assert.deepEqual(config.functions.get("hello")!.routes, [
      { method: "DELETE", path: "/users/:user_id" },
      { method: "OPTIONS", path: "/*" },
      { method: "*", path: "/a-b.c~d/@e" },
    ]);
  });

  test("two functions with the same route: the error names both", () => {
    assert.deepEqual(errors(`
      [functions.a]
      dir = "a"
      routes = ["GET /hello", "GET /users/:id"]
      [functions.b]
      dir = "b"
      routes = ["POST /hello", "GET /hello", "GET /users/:name"]
    `), [
      `functions.b.routes[1]: route "GET /hello" clashes with "GET /hello" of function "a" (functions.a.routes[0])`,
      `functions.b.routes[2]: route "GET /users/:name" clashes with "GET /users/:id" of function "a" (functions.a.routes[1])`,
    ]);
  });

  test("a route for any method clashes with every method on the same path", () => {
    assert.deepEqual(errors(`
      [functions.a]
      dir = "a"
      routes = ["PUT /x"]
      [functions.b]
      dir = "b"
      routes = ["/x"]
    `), [`functions.b.routes[0]: route "/x" clashes with "PUT /x" of function "a" (functions.a.routes[0])`]);
  });

  test("default routes clash too", () => {
    assert.deepEqual(errors(`
      [functions.a]
      dir = "a"
      routes = ["GET /b/*"]
      [functions.b]
      dir = "b"
    `), [`functions.b: default route "/b/*" clashes with "GET /b/*" of function "a" (functions.a.routes[0])`]);
  });

  test("routes = [] is allowed (a scheduled-only function)", () => {
    const { config } = parseConfig(`[functions.cron]\ndir = "c"\nroutes = []\nschedule = "* * * * *"`, { root: ROOT });
    assert.deepEqual(config.functions.get("cron")!.routes, []);
  });
});

describe("parseConfig: collecting", () => {
  test("every error at once, in one message prefixed with the file", () => {
    const err = configError(`
      [gateway]
      listen = 8080
      [pool]
      stem_cells = "two"
      [defaults]
      memory = "lots"
      [functions.hello]
      memroy = "64MiB"
      timeout = -1
      env = { PORT = 8080 }
    `);
    assert.equal(err.message, [
      `${FILE}: gateway.listen: expected "host:port" like "127.0.0.1:8080", got 8080`,
      `${FILE}: pool.stem_cells: expected a whole number ≥ 0, got "two"`,
      `${FILE}: defaults.memory: expected a size like "128MiB", got "lots"`,
      `${FILE}: functions.hello.dir: missing; expected the function's folder relative to config.toml, like "functions/hello"`,
      `${FILE}: functions.hello.env.PORT: expected a string, got 8080 (quote it: "8080")`,
      `${FILE}: functions.hello.timeout: expected a duration like "30s", got -1`,
      `${FILE}: warning: functions.hello.memroy: unknown key (did you mean "memory"?)`,
    ].join("\n"));
    assert.equal(err.diagnostics.length, 7);
    assert.deepEqual(err.diagnostics.at(-1), { level: "warning", key: "functions.hello.memroy", message: `unknown key (did you mean "memory"?)` });
  });

  test("without a path the message is prefixed with config.toml", () => {
    assert.throws(() => parseConfig(`[pool]\nstem_cells = "two"`, { root: ROOT }), {
      message: `config.toml: pool.stem_cells: expected a whole number ≥ 0, got "two"`,
    });
  });

  test("unknown keys are warnings, with a suggestion when one is close", () => {
    const { config, warnings } = parseConfig(`
      gatway = 1
      [gateway]
      listen = "127.0.0.1:9000"
      port = 1
      [control]
      port = 8081
      [pool]
      stemcells = 3
      [functions.hello]
      dir = "h"
      memroy = "64MiB"
      Timeout = "5s"
      zzz = 1
    `, { path: FILE, root: ROOT });
    assert.equal(config.gateway.listen.port, 9000);
    assert.equal(config.functions.get("hello")!.memoryBytes, 128 * MiB);
    assert.deepEqual(warnings.map((w) => `${w.level} ${w.key}: ${w.message}`), [
      `warning gatway: unknown key (did you mean "gateway"?)`,
      `warning gateway.port: unknown key`,
      `warning control.port: unknown key`,
      `warning pool.stemcells: unknown key (did you mean "stem_cells"?)`,
      `warning functions.hello.memroy: unknown key (did you mean "memory"?)`,
      `warning functions.hello.Timeout: unknown key (did you mean "timeout"?)`,
      `warning functions.hello.zzz: unknown key`,
    ]);
  });

  test("timezone without schedule warns", () => {
    const { warnings } = parseConfig(`[functions.a]\ndir = "a"\ntimezone = "UTC"`, { root: ROOT });
    assert.deepEqual(warnings, [{ level: "warning", key: "functions.a.timezone", message: "has no effect without schedule" }]);
  });

  test("a TOML syntax error is one diagnostic with line and column", () => {
    const err = configError(`[gateway]\nlisten = "127.0.0.1:8080"\nmax_body = = "6MiB"\n`);
    assert.deepEqual(err.diagnostics, [
      { level: "error", key: "", message: "invalid TOML: invalid value", line: 3, column: 12 },
    ]);
    assert.equal(err.message, `${FILE}:3:12: invalid TOML: invalid value`);
    assert.ok(err.cause instanceof TomlError);
  });

  test("a duplicate TOML key is a syntax error too", () => {
    const err = configError(`[pool]\nstem_cells = 1\nstem_cells = 2\n`);
    assert.equal(err.diagnostics.length, 1);
    assert.equal(err.diagnostics[0].line, 3);
    assert.match(err.message, /^\/srv\/app\/config\.toml:3:\d+: invalid TOML: /);
  });
});

describe("loadConfig", () => {
  let tmp = "";
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test("reads a file and resolves paths against its folder", async () => {
    const file = path.join(fixtures, "basic/config.toml");
    const { config, warnings } = await loadConfig(path.relative(process.cwd(), file));
    const root = path.join(fixtures, "basic");
    assert.equal(config.path, file);
    assert.equal(config.root, root);
    assert.equal(config.daemon.stateDir, path.join(root, "state"));
    assert.equal(config.control.socket, path.join(root, "state/fnrun.sock"));
    assert.deepEqual(config.gateway, { listen: { host: "127.0.0.1", port: 0 }, maxBodyBytes: MiB, workers: defaultWorkers() });
    assert.deepEqual(config.pool, { stemCells: 1, memoryBudgetBytes: 512 * MiB, idleTimeoutMs: 90_000 });
    const hello = config.functions.get("hello")!;
    assert.equal(hello.dir, path.join(root, "functions/hello"));
    assert.equal(hello.memoryBytes, 96 * MiB);
    assert.equal(hello.pids, 32);
    assert.deepEqual(hello.env, { GREETING: "hi" });
    assert.equal(config.functions.get("nightly")!.schedule, "0 3 * * *");
    // A function folder that does not exist yet is a warning, not an error.
    assert.deepEqual(warnings, [{
      level: "warning", key: "functions.nightly.dir", message: `${path.join(root, "functions/missing")} is not a folder`,
    }]);
  });

  test("a missing file names the path and the fix", async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "fnrun-"));
    const file = path.join(tmp, "config.toml");
    await assert.rejects(loadConfig(file), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, "FNRUN_CONFIG_INVALID");
      assert.equal(err.message, `${file}: no such file; create it (see "config.toml" in the README) or pass --config <path>`);
      return true;
    });
  });
});

describe("functionConfigFor", () => {
  const { config } = parseConfig(`
    [defaults]
    memory = "64MiB"
    [functions.hello]
    dir = "functions/hello"
    routes = ["GET /other"]
  `, { path: FILE, root: ROOT });

  test("a folder config.toml does not name: defaults and default routes", () => {
    assert.deepEqual(functionConfigFor(config, "echo", "fns/echo"), {
      name: "echo",
      dir: "/srv/app/fns/echo",
      routes: [{ method: "*", path: "/echo" }, { method: "*", path: "/echo/*" }],
      env: {},
      ...config.defaults,
    });
  });

  test("a function config.toml names: its entry", () => {
    assert.equal(functionConfigFor(config, "hello", "/anywhere"), config.functions.get("hello"));
  });

  test("a bad name or a clashing default route is a ConfigError", () => {
    assert.throws(() => functionConfigFor(config, "Echo", "/x"), {
      code: "FNRUN_CONFIG_INVALID",
      message: `${FILE}: functions.Echo: expected a function name of lowercase letters, digits and "-", starting with a letter or digit, at most 40 characters, got "Echo"`,
    });
    assert.throws(() => functionConfigFor(config, "other", "/x"), {
      message: `${FILE}: functions.other: default route "/other" clashes with "GET /other" of function "hello" (functions.hello.routes[0])`,
    });
  });
});

describe("units", () => {
  const sizes: Array<[string | number, number]> = [
    [0, 0], [1024, 1024], ["1024", 1024], ["10B", 10], ["512KiB", 512 * 1024], ["128MiB", 128 * MiB],
    ["128mib", 128 * MiB], ["64Mi", 64 * MiB], ["1GiB", 2 ** 30], ["2TiB", 2 * 2 ** 40], ["1.5GiB", 1.5 * 2 ** 30],
    ["64MB", 64_000_000], ["1KB", 1000], ["1GB", 1e9], ["0.1KB", 100], [" 6 MiB ", 6 * MiB],
  ];
  for (const [input, bytes] of sizes) test(`parseSize(${JSON.stringify(input)}) = ${bytes}`, () => assert.equal(parseSize(input), bytes));

  for (const input of ["lots", "", "128m", "1G", "MiB", "-1MiB", "1.5", "1e3", "12 34"] as Array<string | number>) {
    test(`parseSize(${JSON.stringify(input)}) throws`, () => {
      assert.throws(() => parseSize(input), { code: "FNRUN_UNIT_INVALID", message: `expected a size like "128MiB", got ${JSON.stringify(input)}` });
    });
  }
  for (const input of [-1, 1.5, Infinity, NaN]) {
    test(`parseSize(${input}) throws`, () => assert.throws(() => parseSize(input), { message: `expected a size like "128MiB", got ${input}` }));
  }

  const durations: Array<[string | number, number]> = [
    ["150ms", 150], ["30s", 30_000], ["5m", 300_000], ["1h", 3_600_000], ["1d", 86_400_000], ["1m30s", 90_000],
    ["1h30m", 5_400_000], ["1.5s", 1500], ["0s", 0], [30, 30_000], [0.25, 250], [0, 0],
  ];
  for (const [input, ms] of durations) test(`parseDuration(${JSON.stringify(input)}) = ${ms}`, () => assert.equal(parseDuration(input), ms));

  for (const input of ["30", "", "soon", "5 m", "1m 30s", "30S", "-1s", "1w", -1, NaN, Infinity] as Array<string | number>) {
    test(`parseDuration(${JSON.stringify(input)}) throws`, () => {
      assert.throws(() => parseDuration(input), {
        code: "FNRUN_UNIT_INVALID",
        message: `expected a duration like "30s", got ${typeof input === "string" ? JSON.stringify(input) : input}`,
      });
    });
  }

  test("formatSize and formatDuration round-trip", () => {
    for (const [bytes, text] of [[128 * MiB, "128MiB"], [64_000_000, "64MB"], [2 ** 30, "1GiB"], [1e9, "1GB"], [1000, "1KB"], [1001, "1001B"], [0, "0B"]] as const) {
      assert.equal(formatSize(bytes), text);
      assert.equal(parseSize(text), bytes);
    }
    for (const [ms, text] of [[90_000, "1m30s"], [150, "150ms"], [0, "0s"], [5_400_000, "1h30m"], [1500, "1s500ms"]] as const) {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    }
  });
});
