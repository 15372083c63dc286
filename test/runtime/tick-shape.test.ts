/**
 * runtime/tick-shape.mjs builds objects along the map path of node's nextTick task objects, so
 * that V8 widens their fields before nextTick's feedback is taken, and keeps the last one alive
 * so that a full GC does not free that path (see that file).
 *
 * - If node changes how it builds those objects, the module must notice and do nothing, and
 *   the first test must fail: it asks V8 (natives syntax, in a child node) whether a task object
 *   made after settling has the same map as the object the module built.
 * - The others read V8's map log (`--log-maps`) of a child node that makes task objects, lets
 *   them all die, runs full GCs and makes task objects again: new transitions for
 *   async_id_symbol and trigger_async_id_symbol between the GCs and the new tasks mean that
 *   their maps had been freed and were made anew, the start of the slow state. Without the
 *   module they are (the control shows the GCs are strong enough); with it, and in the
 *   bootstrap's bundle, they must not be.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { bootstrapBundle } from "../../runtime/bootstrap/build.ts";

const run = promisify(execFile);
const MODULE = join(import.meta.dirname, "..", "..", "runtime", "tick-shape.mjs");

const SAME_MAP = `
import { createHook } from "node:async_hooks";
import { settleTickShape } from ${JSON.stringify(MODULE)};
const built = settleTickShape();
let task = null;
const hook = createHook({ init(_id, type, _t, resource) { if (type === "TickObject" && task === null) task = resource; } }).enable();
process.nextTick(() => {}, "an argument");
hook.disable();
console.log(JSON.stringify({ built: built !== null, sameMap: built !== null && %HaveSameMap(built, task) }));
`;

/**
 * Tasks, none left alive, full GCs, then three new tasks between two marker transitions (an
 * object given a symbol of that name); exits there. Runs after `waitFor` exists when given
 * (the bootstrap's socket: it is serving), at once otherwise.
 */
const AFTER_GC = `
import { existsSync } from "node:fs";
const waitFor = process.env.WAIT_FOR;
const ticks = () => new Promise((r) => { let n = 0; const f = () => (++n < 50 ? process.nextTick(f) : setImmediate(r)); f(); });
const mark = (name) => { const o = {}; o[Symbol(name)] = 1; return o; };
async function check() {
  await ticks();
  await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 6; i++) gc();
  mark("fnrun-gc-done");
  for (let i = 0; i < 3; i++) process.nextTick(() => {});
  mark("fnrun-ticks-made");
  process.exit(0);
}
const started = Date.now();
const poll = () => (!waitFor || existsSync(waitFor) ? check() : Date.now() - started > 15000 ? process.exit(3) : setTimeout(poll, 20));
setTimeout(poll, 0);
`;

/** Transitions to the task objects' two symbols in the map log, between the two markers of AFTER_GC. */
async function newTaskMaps(log: string): Promise<number> {
  const transitions = (await readFile(log, "utf8")).split("\n").filter((l) => l.startsWith("map,Transition,"));
  const from = transitions.findIndex((l) => l.includes('symbol("fnrun-gc-done"'));
  const to = transitions.findIndex((l) => l.includes('symbol("fnrun-ticks-made"'));
  assert.ok(from !== -1 && to > from, "the map log holds both markers");
  return transitions.slice(from + 1, to).filter((l) => l.includes('symbol("async_id_symbol"') || l.includes('symbol("trigger_async_id_symbol"')).length;
}

describe("nextTick task shape (runtime/tick-shape.mjs)", () => {
  let dir: string;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(): Promise<string> {
    return (dir ??= await mkdtemp(join(os.tmpdir(), "fnrun-tick-shape-")));
  }

  /** Runs `args` (node flags and a script) in a child node that logs its maps; the log's path. */
  async function withMapLog(name: string, args: string[], env: Record<string, string> = {}): Promise<string> {
    const log = join(await tempDir(), `${name}.v8.log`);
    await run(process.execPath, ["--expose-gc", "--log-maps", "--no-log-maps-details", `--logfile=${log}`, "--no-logfile-per-isolate", ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 });
    return log;
  }

  test("the object it builds has the map of node's task objects", async () => {
    const { stdout } = await run(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", SAME_MAP], { timeout: 20_000 });
    assert.deepEqual(JSON.parse(stdout), { built: true, sameMap: true });
  });

  test("without it, a full GC with no task alive frees the task maps (control)", async () => {
    const log = await withMapLog("control", ["--input-type=module", "-e", AFTER_GC]);
    assert.equal(await newTaskMaps(log), 2, "async_id_symbol and trigger_async_id_symbol get new maps");
  });

  test("with it, task objects made after full GCs keep their maps", async () => {
    const log = await withMapLog("module", ["--import", MODULE, "--input-type=module", "-e", AFTER_GC]);
    assert.equal(await newTaskMaps(log), 0);
  });

  test("the bootstrap in every container keeps them too (a stem cell, after its warm-up)", async () => {
    const d = await tempDir();
    const bundle = join(d, "bootstrap.mjs");
    const driver = join(d, "after-gc.mjs");
    const socketDir = await mkdtemp(join(d, "sock-"));
    await writeFile(bundle, await bootstrapBundle());
    await writeFile(driver, AFTER_GC);
    const log = await withMapLog("bootstrap", ["--import", driver, bundle], { FNRUN_SOCKET_DIR: socketDir, WAIT_FOR: join(socketDir, "fn.sock") });
    assert.equal(await newTaskMaps(log), 0);
  });
});
