import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { baseImageConfig } from "../../builder/base-layout.ts";
import { cgroupDirsOf, cgroupPathsOf, containerCgroupPaths, readLimits, removeEmptyParents } from "../../runtime/cgroup.ts";
import { applyLimits, placeBundle, sendLoad, STEM_ENTRY } from "../../runtime/stem-cell.ts";
import { cleanupOrphans, Instance, type InstanceOptions, type SpecializeOptions } from "../../runtime/instance.ts";
import { Runc } from "../../runtime/runc.ts";
import { imageFor, makeFixture } from "./rootfs-fixture.ts";

// runc makes the /fnrun parent cgroups for this file's containers; nothing else here removes them.
after(() => removeEmptyParents());

const MiB = 1024 * 1024;
/** A stem cell's start limits: deliberately unlike the function's, so the change is visible. */
const STEM_LIMITS = { memoryBytes: 256 * MiB, cpu: 1, pids: 120, tmpBytes: 8 * MiB };
const FN_LIMITS = { memoryBytes: 80 * MiB, cpu: 0.5, pids: 64 };

/** A function that reports its env and what it can do to the code dir it was loaded from. */
const STEM_PROBE = `
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
const attempt = (f) => { try { f(); return "written"; } catch (err) { return err.code; } };
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/env") return Response.json({ env, processFoo: process.env.FOO ?? null, processSecret: process.env.SECRET_TOKEN ?? null });
    if (url.pathname === "/tmp") return Response.json(readdirSync("/tmp"));
    if (url.pathname === "/code") return Response.json({
      overwrite: attempt(() => writeFileSync("/run/fnrun-code/index.mjs", "export default () => new Response('hijacked')")),
      create: attempt(() => writeFileSync("/run/fnrun-code/other.mjs", "x")),
      readable: readFileSync("/run/fnrun-code/index.mjs", "utf8").includes("STEM_PROBE_MARKER"),
    });
    return new Response("stem-probe " + url.pathname);
  },
};
// STEM_PROBE_MARKER
`;

describe("stem cells (real runc)", async () => {
  const fx = await makeFixture({ "plain.mjs": `export default async (request) => new Response("plain " + new URL(request.url).pathname);` });
  const runc = new Runc({ root: join(fx.stateDir, "runc") });
  const logFile = join(fx.stateDir, "stem.log");
  // Bundles on the host, as the image store keeps them: root-owned 0644, same filesystem as the state dir.
  const bundles = join(fx.root, "bundles");
  await mkdir(bundles);
  const bundle = async (name: string, source: string, mode = 0o644) => {
    const p = join(bundles, name);
    await writeFile(p, source);
    await chmod(p, mode);
    return p;
  };
  const probe = await bundle("probe.mjs", STEM_PROBE);
  const plain = await bundle("plain.mjs", `export default () => new Response("plain");`);
  const broken = await bundle("broken.mjs", `throw new Error("bad import");`);
  const started: Instance[] = [];
  let seq = 0;

  const stemOptions = (extra: Partial<InstanceOptions> = {}): InstanceOptions => ({
    id: `s${process.pid}-${seq++}`,
    stateDir: fx.stateDir,
    rootfs: fx.rootfs,
    image: baseImageConfig(),
    env: {},
    limits: STEM_LIMITS,
    logFile,
    runc,
    stem: true,
    ...extra,
  });
  const startStem = async (extra?: Partial<InstanceOptions>) => {
    const inst = await Instance.start(stemOptions(extra));
    started.push(inst);
    return inst;
  };
  const fnOf = (bundlePath: string, extra: Partial<SpecializeOptions> = {}): SpecializeOptions => ({
    name: "probe",
    revision: "r1",
    bundlePath,
    env: { FOO: "bar", SECRET_TOKEN: "s3cr3t" },
    limits: FN_LIMITS,
    ...extra,
  });
  const get = async (inst: Instance, path: string) => {
    const res = await inst.dispatcher.request({ path, method: "GET" });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  after(async () => {
    await Promise.allSettled(started.map((i) => i.stop()));
    await cleanupOrphans(fx.stateDir, runc).catch(() => {});
    await rm(fx.root, { recursive: true, force: true });
  });

  async function assertGone(id: string) {
    assert.deepEqual((await runc.list()).filter((c) => c.id === id), [], "runc state");
    assert.deepEqual(cgroupDirsOf(id).filter((d) => existsSync(d)), [], "cgroup dirs");
    assert.equal(existsSync(Instance.dirOf(fx.stateDir, id)), false, "instance dir");
  }

  test("a stem cell starts with no function: every request gets 503 x-fnrun-error: stem", async () => {
    const stem = await startStem();
    assert.equal(stem.function, null);
    assert.equal(stem.phase, "stem");
    assert.equal(stem.stem, true);
    for (const path of ["/", "/env", "/__fnrun/loadx"]) {
      const r = await get(stem, path);
      assert.equal(r.status, 503, path);
      assert.equal(r.headers["x-fnrun-error"], "stem");
      assert.deepEqual(JSON.parse(r.text), { error: "no function loaded", message: "this instance is a stem cell" });
    }
    const code = await stat(join(Instance.dirOf(fx.stateDir, stem.id), "code"));
    assert.equal(code.mode & 0o7777, 0o755);
    assert.equal(code.uid, 0);
  });

  test("a stem cell refuses a non-empty env (it would leak into the function it becomes)", async () => {
    await assert.rejects(Instance.start(stemOptions({ env: { A: "b" } })), /must have an empty env/);
  });

  test("specialize: kernel limits become the function's, env reaches the function, the bundle is hard-linked", async () => {
    const stem = await startStem();
    const before = await readLimits(stem.pid);
    assert.deepEqual(before, { memoryBytes: STEM_LIMITS.memoryBytes, cpuQuota: 100_000, cpuPeriod: 100_000, pids: STEM_LIMITS.pids });

    const timings = await stem.specialize(fnOf(probe));
    for (const k of ["copyMs", "limitsMs", "loadMs", "importMs", "totalMs"] as const) assert.ok(Number.isFinite(timings[k]) && timings[k] >= 0, k);

    const afterLimits = await readLimits(stem.pid);
    assert.deepEqual(afterLimits, { memoryBytes: FN_LIMITS.memoryBytes, cpuQuota: 50_000, cpuPeriod: 100_000, pids: FN_LIMITS.pids });
    assert.notEqual(afterLimits.memoryBytes, before.memoryBytes);
    assert.notEqual(afterLimits.cpuQuota, before.cpuQuota);
    assert.notEqual(afterLimits.pids, before.pids);
    assert.deepEqual(stem.limits, { ...FN_LIMITS, tmpBytes: STEM_LIMITS.tmpBytes });
    assert.deepEqual(stem.function, { name: "probe", revision: "r1" });
    assert.equal(stem.phase, "ready");

    const env = await get(stem, "/env");
    assert.equal(env.status, 200);
    assert.deepEqual(JSON.parse(env.text), { env: { FOO: "bar", SECRET_TOKEN: "s3cr3t" }, processFoo: "bar", processSecret: "s3cr3t" });
    assert.equal((await get(stem, "/hello")).text, "stem-probe /hello");

    const placed = await stat(join(Instance.dirOf(fx.stateDir, stem.id), "code", "index.mjs"));
    assert.equal(placed.ino, (await stat(probe)).ino, "hard link of the bundle");
    assert.equal(placed.mode & 0o7777, 0o644);
    assert.equal(placed.uid, 0);
  });

  test("limits: written at the container's own cgroup paths, and only the controllers that change", async () => {
    const stem = await startStem();
    assert.deepEqual(containerCgroupPaths(stem.id), await cgroupPathsOf(stem.pid), "the paths the id gives are the kernel's");
    const current = { memoryBytes: STEM_LIMITS.memoryBytes, cpu: STEM_LIMITS.cpu, pids: STEM_LIMITS.pids };
    assert.equal(await applyLimits(stem.pid, stem.id, runc, current, current), "unchanged");
    // Moved behind the runtime's back: a write of memory would put it back; only pids changes.
    const mem = join(containerCgroupPaths(stem.id).memory, "memory.limit_in_bytes");
    await writeFile(mem, String(200 * MiB));
    assert.equal(await applyLimits(stem.pid, stem.id, runc, { ...current, pids: 50 }, current), "files");
    assert.deepEqual(await readLimits(stem.pid), { memoryBytes: 200 * MiB, cpuQuota: 100_000, cpuPeriod: 100_000, pids: 50 });
    assert.equal(await applyLimits(stem.pid, stem.id, runc, { memoryBytes: 64 * MiB, cpu: 0.25, pids: 50 }, { ...current, pids: 50 }), "files");
    assert.deepEqual(await readLimits(stem.pid), { memoryBytes: 64 * MiB, cpuQuota: 25_000, cpuPeriod: 100_000, pids: 50 });
  });

  test("the warm-up runs a bundle's banner (node:module, createRequire) before the function's import", async () => {
    // No banner of its own: whether node:module is loaded when it is imported is the warm-up's doing.
    const bare = await bundle("bare.mjs", `const warmed = process.moduleLoadList.includes("NativeModule module");\nexport default () => new Response(String(warmed));`);
    const stem = await startStem();
    await stem.specialize(fnOf(bare));
    assert.equal((await get(stem, "/")).text, "true");
  });

  test("the warm-up rehearses two specializations through the load path, and leaves a stem cell as new", async () => {
    const stem = await startStem();
    const state = await get(stem, "/__fnrun/load");
    assert.equal(state.status, 200);
    assert.deepEqual(JSON.parse(state.text), { phase: "stem", ok: false, hasScheduled: false, rehearsals: 2 });
    // The rehearsals' module is gone: still a stem cell, every request 503.
    const r = await get(stem, "/rehearsal/loaded");
    assert.deepEqual([r.status, r.headers["x-fnrun-error"]], [503, "stem"]);
    await stem.specialize(fnOf(probe, { env: { FOO: "bar" } }));
    assert.deepEqual(JSON.parse((await get(stem, "/env")).text), { env: { FOO: "bar" }, processFoo: "bar", processSecret: null });
    assert.deepEqual(JSON.parse((await get(stem, "/tmp")).text), []);
    assert.doesNotMatch(await readFile(logFile, "utf8"), /rehearsal failed|warm-up failed/);
  });

  test("the load request: small in the x-fnrun-load header, large (past 64 KiB) as the body; both reach the function", async () => {
    for (const size of [10, 100 * 1024]) {
      const stem = await startStem();
      await stem.specialize(fnOf(probe, { env: { FOO: "f".repeat(size), SECRET_TOKEN: "ü€" } }));
      const env = JSON.parse((await get(stem, "/env")).text);
      assert.deepEqual([env.env.FOO.length, env.processSecret], [size, "ü€"], `${size} characters`);
    }
  });

  test("the function cannot write the code dir it was loaded from", async () => {
    const stem = await startStem();
    await stem.specialize(fnOf(probe));
    assert.deepEqual(JSON.parse((await get(stem, "/code")).text), { overwrite: "EROFS", create: "EROFS", readable: true });
  });

  test("the stem cell's warm-up imports leave nothing in the function's /tmp, and the function's imports work", async () => {
    const stem = await startStem();
    await stem.specialize(fnOf(probe));
    assert.deepEqual(JSON.parse((await get(stem, "/tmp")).text), []);
    assert.equal((await get(stem, "/after-warm-up")).text, "stem-probe /after-warm-up");
  });

  test("a bundle the store does not own as root 0644 is copied (never chmod'ed in place)", async () => {
    const odd = await bundle("odd.mjs", `export default () => new Response("odd");`, 0o600);
    const stem = await startStem();
    await stem.specialize(fnOf(odd));
    const placed = await stat(join(Instance.dirOf(fx.stateDir, stem.id), "code", "index.mjs"));
    assert.notEqual(placed.ino, (await stat(odd)).ino);
    assert.equal(placed.mode & 0o7777, 0o644);
    assert.equal((await stat(odd)).mode & 0o7777, 0o600, "source untouched");
    assert.equal((await get(stem, "/")).text, "odd");
  });

  test("a second specialize is refused without touching the instance; the load path is 409 for good", async () => {
    const stem = await startStem();
    await stem.specialize(fnOf(probe));
    const limits = await readLimits(stem.pid);
    await assert.rejects(stem.specialize(fnOf(plain, { name: "other", revision: "r9", limits: { memoryBytes: 128 * MiB, cpu: 1, pids: 99 } })), (err: any) => {
      assert.equal(err.code, "FNRUN_SPECIALIZE");
      assert.equal(err.kind, "system");
      assert.match(err.message, /refused, it already serves function `probe` \(revision r1\)/);
      return true;
    });
    // The same revision again is refused too: an instance is specialized once.
    await assert.rejects(stem.specialize(fnOf(probe, { revision: "r2" })), { code: "FNRUN_SPECIALIZE" });
    assert.deepEqual(await readLimits(stem.pid), limits);
    assert.deepEqual(stem.function, { name: "probe", revision: "r1" });
    assert.equal(stem.phase, "ready");
    assert.equal((await get(stem, "/still")).text, "stem-probe /still");
    // Straight at the bootstrap (what a function could do on its own socket): refused.
    const res = await stem.dispatcher.request({ path: "/__fnrun/load", method: "POST", body: JSON.stringify({ entry: "/app/plain.mjs", env: {} }) });
    assert.equal(res.statusCode, 409);
    assert.equal(res.headers["x-fnrun-error"], "loaded");
    await res.body.dump();
    assert.equal((await get(stem, "/still")).text, "stem-probe /still");
  });

  test("concurrent specialize calls: exactly one wins", async () => {
    const stem = await startStem();
    const results = await Promise.allSettled([stem.specialize(fnOf(probe)), stem.specialize(fnOf(plain, { name: "plain" }))]);
    assert.equal(results[0].status, "fulfilled");
    assert.equal(results[1].status, "rejected");
    assert.equal((results[1] as PromiseRejectedResult).reason.code, "FNRUN_SPECIALIZE");
    assert.deepEqual(stem.function, { name: "probe", revision: "r1" });
  });

  test("a bundle that throws at import: FNRUN_FUNCTION_INIT, then every request 502 init", async () => {
    const stem = await startStem();
    await assert.rejects(stem.specialize(fnOf(broken, { name: "broken" })), (err: any) => {
      assert.equal(err.code, "FNRUN_FUNCTION_INIT");
      assert.equal(err.kind, "user");
      assert.equal(err.message, `function \`broken\` (revision r1) failed to initialize in instance \`${stem.id}\`: bad import`);
      return true;
    });
    assert.equal(stem.phase, "broken");
    assert.deepEqual(stem.function, { name: "broken", revision: "r1" });
    const r = await get(stem, "/");
    assert.equal(r.status, 502);
    assert.equal(r.headers["x-fnrun-error"], "init");
    assert.deepEqual(JSON.parse(r.text), { error: "function failed to initialize", message: "bad import" });
    await assert.rejects(stem.specialize(fnOf(probe)), { code: "FNRUN_SPECIALIZE" });
    assert.match(await readFile(logFile, "utf8"), /function failed to initialize: \/run\/fnrun-code\/index\.mjs: Error: bad import/);
  });

  test("beginSpecialize: a request sent right behind the load waits for the import and gets the function's answer", async () => {
    const stem = await startStem();
    const { loaded } = await stem.beginSpecialize(fnOf(probe));
    assert.equal(stem.phase, "specializing");
    assert.deepEqual(stem.function, { name: "probe", revision: "r1" });
    const r = await get(stem, "/first");
    assert.deepEqual([r.status, r.text], [200, "stem-probe /first"]);
    const timings = await loaded;
    assert.ok(Number.isFinite(timings.importMs));
    await stem.ready;
    assert.equal(stem.phase, "ready");
  });

  test("a request that overtakes the load (its bundle already in place) waits for it instead of getting the stem's 503", async () => {
    const stem = await startStem();
    await placeBundle(probe, join(Instance.dirOf(fx.stateDir, stem.id), "code"));
    const early = get(stem, "/early");
    // Give it time to reach the bootstrap first (if it did not, the load simply goes first).
    await new Promise((r) => setTimeout(r, 100));
    const answer = await sendLoad(stem.dispatcher, STEM_ENTRY, {}, 10_000);
    assert.equal(answer.status, 200);
    const r = await early;
    assert.deepEqual([r.status, r.text], [200, "stem-probe /early"]);
  });

  test("an import that fails with a request behind it: the request gets 502 init, loaded and ready reject", async () => {
    const stem = await startStem();
    const { loaded } = await stem.beginSpecialize(fnOf(broken, { name: "broken" }));
    const r = await get(stem, "/waiting");
    assert.equal(r.status, 502);
    assert.equal(r.headers["x-fnrun-error"], "init");
    assert.deepEqual(JSON.parse(r.text), { error: "function failed to initialize", message: "bad import" });
    await assert.rejects(loaded, { code: "FNRUN_FUNCTION_INIT", message: `function \`broken\` (revision r1) failed to initialize in instance \`${stem.id}\`: bad import` });
    await assert.rejects(stem.ready, { code: "FNRUN_FUNCTION_INIT" });
    assert.equal(stem.phase, "broken");
  });

  test("a bundle that never finishes importing: FNRUN_FUNCTION_INIT after loadTimeoutMs", async () => {
    const hang = await bundle("hang.mjs", `await new Promise(() => setInterval(() => {}, 1000));`);
    const stem = await startStem();
    await assert.rejects(stem.specialize(fnOf(hang, { name: "hang", loadTimeoutMs: 500 })), {
      code: "FNRUN_FUNCTION_INIT",
      message: `function \`hang\` (revision r1) failed to initialize in instance \`${stem.id}\`: the bundle did not finish importing within 500 ms`,
    });
    assert.equal(stem.phase, "broken");
    assert.deepEqual(stem.function, { name: "hang", revision: "r1" });
  });

  test("a bundle that exits the process at import: FNRUN_FUNCTION_INIT with the log tail", async () => {
    const exits = await bundle("exits.mjs", `console.error("stem dying now"); process.exit(3);`);
    const stem = await startStem();
    await assert.rejects(stem.specialize(fnOf(exits, { name: "exits" })), (err: any) => {
      assert.equal(err.code, "FNRUN_FUNCTION_INIT");
      assert.match(err.message, /^function `exits` \(revision r1\) failed to initialize in instance `s\d+-\d+`: the container exited while importing the bundle; last log lines:\n/);
      assert.match(err.message, /stem dying now/);
      return true;
    });
    await stem.stop();
    await assertGone(stem.id);
  });

  test("a missing bundle: FNRUN_SPECIALIZE naming the step, function stays null", async () => {
    const stem = await startStem();
    await assert.rejects(stem.specialize(fnOf(join(bundles, "nope.mjs"))), (err: any) => {
      assert.equal(err.code, "FNRUN_SPECIALIZE");
      assert.match(err.message, /^specialize instance `s\d+-\d+` for function `probe` \(revision r1\): place bundle: ENOENT/);
      return true;
    });
    assert.equal(stem.function, null);
    assert.equal(stem.phase, "broken");
    assert.equal((await get(stem, "/")).status, 503, "nothing was loaded");
  });

  test("a memory limit below what the stem already uses: FNRUN_SPECIALIZE (EBUSY), nothing loaded", async () => {
    const stem = await startStem();
    await assert.rejects(stem.specialize(fnOf(probe, { limits: { memoryBytes: 1 * MiB, cpu: 0.5, pids: 64 } })), (err: any) => {
      assert.equal(err.code, "FNRUN_SPECIALIZE");
      assert.match(err.message, /set limits of instance .*: .*(busy|EBUSY)/i);
      return true;
    });
    assert.equal(stem.function, null);
    assert.equal((await get(stem, "/")).status, 503);
  });

  test("a cold-started (non-stem) instance refuses specialize and the load path", async () => {
    const cold = await Instance.start({ ...stemOptions({ stem: false, image: imageFor(fx.image, "plain.mjs"), function: { name: "plain", revision: "r1" } }) });
    started.push(cold);
    assert.deepEqual(cold.function, { name: "plain", revision: "r1" });
    assert.equal(cold.phase, "ready");
    await assert.rejects(cold.specialize(fnOf(probe)), /refused, it is not a stem cell/);
    const res = await cold.dispatcher.request({ path: "/__fnrun/load", method: "POST", body: "{}" });
    assert.equal(res.statusCode, 409);
    await res.body.dump();
    assert.equal((await get(cold, "/x")).text, "plain /x");
  });

  test("stop() of a stem cell, specialized or not, leaves no runc state, cgroup or dir", async () => {
    const a = await startStem();
    const b = await startStem();
    await b.specialize(fnOf(probe));
    await a.stop();
    await b.stop();
    await b.stop();
    await assertGone(a.id);
    await assertGone(b.id);
  });

  test("timings: stem start, specialize and its parts, first response; full cold start (median of 10)", async (t) => {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const fmt = (xs: number[]) => `median ${median(xs).toFixed(2)} ms (min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)})`;
    const m = { stemReady: [] as number[], copy: [] as number[], limits: [] as number[], load: [] as number[], imp: [] as number[], total: [] as number[], firstAfter: [] as number[], specToFirst: [] as number[], coldReady: [] as number[], coldToFirst: [] as number[] };
    for (let n = 0; n < 10; n++) {
      const t0 = performance.now();
      const stem = await startStem();
      m.stemReady.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50)); // a stem cell waits idle in the pool before it is used
      const s0 = performance.now();
      const tm = await stem.specialize(fnOf(plain, { name: "plain" }));
      const s1 = performance.now();
      const r = await get(stem, "/");
      const s2 = performance.now();
      assert.equal(r.text, "plain");
      m.copy.push(tm.copyMs); m.limits.push(tm.limitsMs); m.load.push(tm.loadMs); m.imp.push(tm.importMs); m.total.push(tm.totalMs);
      m.firstAfter.push(s2 - s1);
      m.specToFirst.push(s2 - s0);
      await stem.stop();

      const c0 = performance.now();
      const cold = await Instance.start(stemOptions({ stem: false, image: imageFor(fx.image, "plain.mjs"), limits: { ...FN_LIMITS, tmpBytes: 8 * MiB } }));
      started.push(cold);
      const c1 = performance.now();
      const cr = await get(cold, "/c");
      const c2 = performance.now();
      assert.equal(cr.text, "plain /c");
      m.coldReady.push(c1 - c0);
      m.coldToFirst.push(c2 - c0);
      await cold.stop();
    }
    t.diagnostic(`stem Instance.start → ready: ${fmt(m.stemReady)}`);
    t.diagnostic(`specialize total: ${fmt(m.total)}`);
    t.diagnostic(`  copy (hard link): ${fmt(m.copy)}`);
    t.diagnostic(`  limits (cgroup files): ${fmt(m.limits)}`);
    t.diagnostic(`  load round trip: ${fmt(m.load)}; import inside: ${fmt(m.imp)}`);
    t.diagnostic(`first response after specialize: ${fmt(m.firstAfter)}`);
    t.diagnostic(`specialize → first response: ${fmt(m.specToFirst)}`);
    t.diagnostic(`full cold start → ready: ${fmt(m.coldReady)}; → first response: ${fmt(m.coldToFirst)}`);
  });
});
