/**
 * @module bench/slow-path
 * Whether a node process under load runs in the state README "Where the warm gap goes"
 * describes: V8's generic path for adding properties (nextTick's task objects), which costs a
 * process ~10% of its requests for the rest of its life, and which runtime/tick-shape.mjs is
 * there to prevent (this checks that it did). `perf` samples the process while wrk loads it;
 * the samples in the signature's runtime functions, per request, are the figure (0 in the fast
 * state, 4-7 µs in the slow one).
 * Reported for the gateway and the proxy floor so that a ratio between them can be read with it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sleep } from "./lib.ts";

const run = promisify(execFile);
/** The runtime functions of the slow state's stores (perf symbols). */
const SIGNATURE = /Runtime_DefineKeyedOwnPropertyInLiteral|MigrateToMap|TransitionToDataProperty/;
const FREQ_HZ = 2000;
const SAMPLE_S = 1.5;

/** perf is there and may sample other processes (root, or a permissive perf_event_paranoid). */
export async function perfAvailable(): Promise<boolean> {
  return run("perf", ["--version"]).then(
    () => true,
    () => false,
  );
}

/**
 * µs a request of `pid`'s samples in the signature's functions while `load` runs (a 3 s wrk
 * run; perf samples 1.5 s of it, from its second second); null when perf could not sample.
 */
export async function slowPathUsPerRequest(pid: number, load3s: () => Promise<{ reqPerSec: number }>): Promise<number | null> {
  const dir = await mkdtemp(join(tmpdir(), "fnrun-perf-"));
  const data = join(dir, "perf.data");
  try {
    const load = load3s();
    await sleep(1000);
    const recorded = await run("perf", ["record", "-q", "-F", String(FREQ_HZ), "-p", String(pid), "-o", data, "--", "sleep", String(SAMPLE_S)], { timeout: 15_000 }).then(
      () => true,
      () => false,
    );
    const loaded = await load;
    if (!recorded || !(loaded.reqPerSec > 0)) return null;
    const { stdout } = await run("perf", ["report", "-i", data, "--sort", "sym", "--stdio", "-n"], { maxBuffer: 64 << 20, timeout: 60_000 });
    let samples = 0;
    for (const line of stdout.split("\n")) {
      if (!SIGNATURE.test(line)) continue;
      const n = Number(line.trim().split(/\s+/)[1]); // "  0.31%  123  [.] v8::internal::Runtime_..."
      if (Number.isFinite(n)) samples += n;
    }
    return (samples * (1e6 / FREQ_HZ)) / (loaded.reqPerSec * SAMPLE_S);
  } catch {
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
