/**
 * runc missing or failing, at the runtime layer with the real runc behind a shim that fails
 * one command: each error names what failed (the command, the container, runc's message) and
 * no half-made container, cgroup or instance dir is left, even when `create` had succeeded.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { cgroupDirsOf, removeEmptyParents } from "../../runtime/cgroup.ts";
import { cleanupOrphans, Instance } from "../../runtime/instance.ts";
import { Runc } from "../../runtime/runc.ts";
import { imageFor, makeFixture } from "../runtime/rootfs-fixture.ts";

// runc makes the /fnrun parent cgroups for this file's containers; nothing else here removes them.
after(() => removeEmptyParents());

const MiB = 1024 * 1024;
const REAL_RUNC = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"].find((p) => existsSync(p))!;

/** A runc that fails `op` the way runc does (an error line in its --log file and on stderr) and runs the real one otherwise. */
function shim(op: string): string {
  return `#!/bin/sh
log=""; prev=""; cmd=""
for a in "$@"; do
  [ "$prev" = "--log" ] && log="$a"
  case "$a" in create|start) [ -z "$cmd" ] && cmd="$a";; esac
  prev="$a"
done
if [ "$cmd" = "${op}" ]; then
  msg="simulated runc failure: ${op} refused"
  [ -n "$log" ] && echo "{\\"level\\":\\"error\\",\\"msg\\":\\"$msg\\"}" >> "$log"
  echo "$msg" >&2
  exit 1
fi
exec ${REAL_RUNC} "$@"
`;
}

describe("runc missing or failing (real runc behind a failing shim)", { timeout: 120_000 }, async () => {
  const fx = await makeFixture({ "plain.mjs": `export default async () => new Response("plain");` });
  const realRunc = new Runc({ root: join(fx.stateDir, "runc") });
  after(async () => {
    await cleanupOrphans(fx.stateDir, realRunc).catch(() => {});
    await rm(fx.root, { recursive: true, force: true });
  });
  let seq = 0;
  const startWith = (runc: Runc) => {
    const id = `rf${process.pid}-${seq++}`;
    const p = Instance.start({
      id, stateDir: fx.stateDir, rootfs: fx.rootfs, image: imageFor(fx.image, "plain.mjs"), env: {},
      limits: { memoryBytes: 64 * MiB, cpu: 0.5, pids: 32, tmpBytes: 4 * MiB }, logFile: join(fx.stateDir, "rf.log"), runc,
    });
    return { id, p };
  };
  async function assertNothingLeft(id: string) {
    assert.deepEqual((await realRunc.list()).filter((c) => c.id === id), [], "no runc container");
    assert.deepEqual(cgroupDirsOf(id).filter((d) => existsSync(d)), [], "no cgroup dir");
    assert.equal(existsSync(Instance.dirOf(fx.stateDir, id)), false, "no instance dir");
  }

  test("runc missing: FNRUN_RUNC_MISSING naming the binary and the fix, nothing left", async () => {
    const { id, p } = startWith(new Runc({ root: join(fx.stateDir, "runc"), binary: join(fx.root, "no-such-runc") }));
    await assert.rejects(p, (err: Error & { code?: string; kind?: string }) => {
      assert.equal(err.code, "FNRUN_RUNC_MISSING");
      assert.match(err.message, /runc not found at `.*no-such-runc`: install it with `apt-get install runc`/);
      return true;
    });
    await assertNothingLeft(id);
  });

  for (const op of ["create", "start"]) {
    test(`runc ${op} failing: FNRUN_RUNC_FAILED naming \`runc ${op}\`, the container and runc's message; nothing left`, async () => {
      const bin = join(fx.root, `runc-fail-${op}`);
      await writeFile(bin, shim(op));
      await chmod(bin, 0o755);
      const { id, p } = startWith(new Runc({ root: join(fx.stateDir, "runc"), binary: bin }));
      await assert.rejects(p, (err: Error & { code?: string }) => {
        assert.equal(err.code, "FNRUN_RUNC_FAILED");
        assert.match(err.message, new RegExp(`runc ${op} \`${id}\`: exit code 1: .*simulated runc failure: ${op} refused`, "s"));
        return true;
      });
      // After a failed start the container had been created: it must have been deleted again.
      await assertNothingLeft(id);
    });
  }

  test("the real runc still works in the same state root afterwards", async () => {
    const { p } = startWith(realRunc);
    const inst = await p;
    const res = await inst.dispatcher.request({ path: "/", method: "GET" });
    assert.equal(await res.body.text(), "plain");
    await inst.stop();
  });
});
