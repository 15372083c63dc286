// Settles the shape of node's nextTick task objects before nextTick has collected type
// feedback. Imported first by bin/fnrun.mjs, so that it runs before anything else of fnrun.
//
// Why: node 20 makes each task as `{ [async_id_symbol]: id, [trigger_async_id_symbol]: id,
// callback, args }`, about ten per proxied request (node's streams and http). When V8 widens
// the representation of one of those fields after nextTick's feedback has seen the narrower
// map, the computed-key stores in nextTick stay on V8's generic path for the life of the
// process (`Runtime_DefineKeyedOwnPropertyInLiteral` and map transitions in `perf`, 4-6 µs a
// request). A daemon that drew that state served ~10% fewer requests for as long as it ran:
// about a third of `fnrun up` processes did. Building objects along the same map path with
// the widest values first (a small integer, a double, a string) leaves nothing to widen
// later: in measurements, 11 of 11 daemons started this way were in the fast state, and the
// slow state could still be forced with --no-lazy-feedback-allocation (feedback taken before
// this module runs), which is how it was traced to this. It was drawn anyway by 6 of 10
// daemons started while dist/ was stale, when the build (esbuild's JS API) ran in the
// daemon's own process; bin/fnrun.mjs builds in a child process since (6 of 6 fast).
// README, "Where the warm gap goes".
import { createHook } from "node:async_hooks";

/**
 * Returns the last object built along the task objects' map path (for the test, which compares
 * the maps), or null when node's task objects do not have the expected shape (then nothing is
 * done).
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

settleTickShape();
