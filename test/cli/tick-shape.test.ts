/**
 * bin/tick-shape.mjs builds objects along the map path of node's nextTick task objects, so
 * that V8 widens their fields before nextTick's feedback is taken (see that file). If node
 * changes how it builds those objects, the module must notice and do nothing, and this test
 * must fail: it asks V8 (natives syntax, in a child node) whether a task object made after
 * settling has the same map as the object the module built.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";

const MODULE = join(import.meta.dirname, "..", "..", "bin", "tick-shape.mjs");

const CHECK = `
import { createHook } from "node:async_hooks";
import { settleTickShape } from ${JSON.stringify(MODULE)};
const built = settleTickShape();
let task = null;
const hook = createHook({ init(_id, type, _t, resource) { if (type === "TickObject" && task === null) task = resource; } }).enable();
process.nextTick(() => {}, "an argument");
hook.disable();
console.log(JSON.stringify({ built: built !== null, sameMap: built !== null && %HaveSameMap(built, task) }));
`;

describe("nextTick task shape (bin/tick-shape.mjs)", () => {
  test("the object it builds has the map of node's task objects", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", CHECK], { timeout: 20_000 });
    assert.deepEqual(JSON.parse(stdout), { built: true, sameMap: true });
  });
});
