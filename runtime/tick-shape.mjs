// Settles the shape of node's nextTick task objects before nextTick has collected type
// feedback, and keeps it settled. Imported first by bin/fnrun.mjs (the daemon and the CLI)
// and by the bootstrap in every container (runtime/bootstrap/server.ts), so that it runs
// before anything else. Plain JavaScript: bin/fnrun.mjs imports it before dist/ is built.
//
// Why: node 20 makes each task as `{ [async_id_symbol]: id, [trigger_async_id_symbol]: id,
// callback, args }`, about ten per proxied request (node's streams and http). When nextTick's
// feedback no longer matches the maps its task objects get, its computed-key stores stay on
// V8's generic path for the life of the process (`Runtime_DefineKeyedOwnPropertyInLiteral`
// and map transitions in `perf`, 3-6 µs a request, ~10% of a proxy's requests). Two ways in:
//
// - A field widened (small integer, then double, then anything) after the feedback saw the
//   narrower map. Building objects along the same map path with the widest values first
//   leaves nothing to widen later (the state could be forced with
//   --no-lazy-feedback-allocation, feedback taken before this module runs).
// - The maps were freed. V8 holds the maps of that path only weakly (transitions and
//   feedback), so a full GC at a moment when no task object is alive, as in an idle process,
//   freed them, and the next tasks got new maps the feedback had not seen. Proxy floors left
//   idle for 150 s drew the state 5 of 6 times. With gc() forced between loads, 2 of 2
//   proxies that settled the shape without keeping it drew it at the first GC, and so did 2 of
//   2 bootstraps without this module; 6 of 6 (4 proxies, 2 bootstraps) that kept an object of
//   the last map stayed fast through 3 or 4 rounds of GCs. So the object built last stays
//   alive (`shaped`): a map holds its parent, so the whole path stays. README, "Where the warm
//   gap goes".
import { createHook } from "node:async_hooks";

/**
 * Returns the last object built along the task objects' map path, or null when node's task
 * objects do not have the expected shape (then nothing is done).
 */
export function settleTickShape() {
  let task = null;
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === "TickObject" && task === null) task = resource;
    },
  }).enable();
  process.nextTick(() => {});
  hook.disable();
  if (task === null) return null;
  const symbols = Object.getOwnPropertySymbols(task);
  if (symbols.length !== 2 || Object.keys(task).join() !== "callback,args") return null;
  const [asyncId, triggerId] = symbols;
  let last = null;
  for (const value of [1, 1.5, "widest"]) {
    const o = {};
    o[asyncId] = value;
    o[triggerId] = value;
    o.callback = value;
    o.args = value;
    last = o;
  }
  return last;
}

/**
 * Where the object built last is kept for the life of the process: on `process`, under a symbol
 * of this module (not a registered one). Not in a variable of this module: in a bundle it is a
 * local of the bundle's top level, which V8 may let go once that has run (the bootstrap's bundle
 * drew new task maps after a GC while it was kept as an export).
 */
const kShaped = Symbol("fnrun.tickShape");

/** The object built last, or null when node's task objects have another shape. */
const shaped = settleTickShape();
if (shaped !== null) Object.defineProperty(process, kShaped, { value: shaped });
