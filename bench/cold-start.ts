/**
 * @module bench/cold-start
 * Cold start to first response, side by side in one loop: each round takes one sample of
 * every floor (bench/floors.ts), one full cold start through the gateway of a daemon without
 * stem cells, and one stem-cell start through the gateway of a daemon with stem cells.
 *
 * A round begins only when both daemons are quiet: the function (min_instances = 0,
 * idle_timeout 300ms) has no instance left and its container is gone, and the stem daemon
 * holds its stem cells again. The next request then has to start an instance. Each request
 * goes on a new TCP connection and is timed from the call to the end of the body. How the
 * instance was got is read from the response's `x-fnrun-start` header (warm|stem|cold); a
 * daemon that does not send it yet is inferred from (no stem cells → cold; stem cells
 * were waiting → stem). A sample the gateway reports as something else is not counted.
 *
 * The stem-cell start is timed by curl (the target's own terms); then, once the stem daemon is
 * quiet again, a second one by node:http in this process, reported beside it: the two clients
 * differ by what each adds to the same start. The full cold start and the floors are timed by
 * node:http, so the ratio between them compares like with like. Last, once the daemon is quiet
 * again, a warm request to another function of the stem daemon by curl: the floor of a start
 * through the gateway (the client, the gateway and the instance woken from idle, each hop of a
 * request but the start).
 */
import { isStemCell, type DaemonProcess } from "./daemon.ts";
import type { FloorKind, Floors } from "./floors.ts";
import { curlGet, get, sleep, waitFor, type Sample } from "./lib.ts";

export interface GatewayTarget {
  daemon: DaemonProcess;
  /** Function name (min_instances = 0) and the URL of one of its routes. */
  fn: string;
  url: string;
  /**
   * A route of another function of the same daemon, held warm (min_instances = 1): a warm
   * request on a new connection, by the same client after a like idle, is the floor of a start
   * through this gateway (every hop but the start itself).
   */
  warmUrl?: string;
}

export interface ColdStartResult {
  rounds: number;
  floors: Record<FloorKind, number[]>;
  cold: number[];
  /** Stem-cell starts timed by curl. */
  stem: number[];
  /** Stem-cell starts timed by node:http in the benchmark's process (one more per round). */
  stemNode: number[];
  /** Warm requests to the stem daemon's `warmUrl` timed by curl (one per round; empty without it). */
  warmCurl: number[];
  /** How each gateway request was served, per daemon: kind → count (incl. "inferred:"). */
  coldKinds: Record<string, number>;
  stemKinds: Record<string, number>;
  /** Whether stem cells showed up in the stem daemon at all. */
  stemCellsAvailable: boolean;
  /** Whether the gateway sends x-fnrun-start. */
  startHeader: boolean;
  stemCells: number;
}

const FLOORS: FloorKind[] = ["hostPlain", "hostBootstrap", "runcPlain", "runcBootstrap"];

/** Waits until `fn` has no instance (and no container) in `daemon`; with stems, until `stemCells` containers wait. */
async function quiet(t: GatewayTarget, stemCells: number, timeoutMs: number): Promise<boolean> {
  await waitFor(`${t.daemon.name}: ${t.fn} scaled to zero`, async () => {
    const s = (await t.daemon.functions()).get(t.fn);
    return s && s.instances === 0 && s.starting === 0 && s.inflight === 0;
  }, 15_000, 10);
  const settled = await waitFor(
    `${t.daemon.name}: containers settled`,
    async () => {
      const ids = await t.daemon.containers();
      const ours = ids.filter((id) => id.startsWith(`${t.fn}-`));
      // Other functions' instances may be there; with stem cells, exactly that many of them.
      return ours.length === 0 && (stemCells === 0 || ids.filter(isStemCell).length === stemCells) ? true : null;
    },
    timeoutMs,
    10,
  ).catch(() => false);
  return settled;
}

export async function measureColdStarts(opts: {
  floors: Floors;
  full: GatewayTarget;
  stem: GatewayTarget;
  stemCells: number;
  rounds: number;
  /** Rounds run first and thrown away (page cache, JIT of the daemon's paths). */
  warmupRounds?: number;
  onRound?: (i: number) => void;
  /** Each kept gateway sample, with how it was served (e.g. to read its server-timing). */
  onSample?: (kind: "cold" | "stem", sample: Sample) => void;
}): Promise<ColdStartResult> {
  const floors = Object.fromEntries(FLOORS.map((k) => [k, [] as number[]])) as Record<FloorKind, number[]>;
  const res: ColdStartResult = { rounds: opts.rounds, floors, cold: [], stem: [], stemNode: [], warmCurl: [], coldKinds: {}, stemKinds: {}, stemCellsAvailable: false, startHeader: false, stemCells: opts.stemCells };

  // Do stem cells exist at all? Give the pool a few seconds to fill them the first time.
  await quiet(opts.full, 0, 10_000);
  res.stemCellsAvailable = opts.stemCells > 0 && (await quiet(opts.stem, opts.stemCells, 5_000));

  const warmup = opts.warmupRounds ?? 1;
  for (let i = 0; i < warmup + opts.rounds; i++) {
    const keep = i >= warmup;
    await Promise.all([quiet(opts.full, 0, 10_000), quiet(opts.stem, res.stemCellsAvailable ? opts.stemCells : 0, 5_000)]);
    await sleep(50); // let the daemons' stops and refills finish their last syscalls

    for (const k of FLOORS) {
      const ms = await opts.floors.sample(k);
      if (keep) floors[k].push(ms);
    }

    /** One GET of `url` by `client`, and how the gateway says it was served (else `inferred`). */
    const sample = async (t: GatewayTarget, url: string, client: (url: string) => Promise<Sample>, inferred: string) => {
      const s = await client(url);
      if (s.status !== 200) throw new Error(`${t.daemon.name}: GET ${url} → ${s.status}: ${s.body}`);
      const header = s.headers["x-fnrun-start"];
      if (typeof header === "string") res.startHeader = true;
      return { s, kind: typeof header === "string" ? header : `inferred:${inferred}` };
    };
    /** Counts a sample's kind and keeps its time when it was served as `wanted`. */
    const keepAs = (wanted: "cold" | "stem", { s, kind }: { s: Sample; kind: string }, into: number[], kinds: Record<string, number>) => {
      if (!keep) return;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      if (kind !== wanted && kind !== `inferred:${wanted}`) return;
      into.push(s.ms);
      opts.onSample?.(wanted, s);
    };
    /** The stem daemon as before a round's first stem sample: no sample warms the next. */
    const settleStem = async () => {
      await quiet(opts.stem, opts.stemCells, 5_000);
      await sleep(50);
    };

    const stemsBefore = res.stemCellsAvailable ? (await opts.stem.daemon.containers()).filter(isStemCell).length : 0;
    keepAs("cold", await sample(opts.full, opts.full.url, get, "cold"), res.cold, res.coldKinds);
    keepAs("stem", await sample(opts.stem, opts.stem.url, curlGet, stemsBefore > 0 ? "stem" : "cold"), res.stem, res.stemKinds);
    if (res.stemCellsAvailable) {
      await settleStem();
      const byNode = await sample(opts.stem, opts.stem.url, get, "stem");
      if (keep && byNode.kind === "stem") res.stemNode.push(byNode.s.ms);
      if (opts.stem.warmUrl) {
        await settleStem();
        const warm = await sample(opts.stem, opts.stem.warmUrl, curlGet, "warm");
        if (keep && warm.kind === "warm") res.warmCurl.push(warm.s.ms);
      }
    }
    opts.onRound?.(i - warmup);
  }
  return res;
}
