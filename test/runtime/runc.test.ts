import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { removeEmptyParents } from "../../runtime/cgroup.ts";
import { Runc } from "../../runtime/runc.ts";

// runc makes the /fnrun parent cgroups for this file's containers; nothing else here removes them.
after(() => removeEmptyParents());

describe("Runc", async () => {
  const dir = await mkdtemp(join(tmpdir(), "fnrun-"));
  after(() => rm(dir, { recursive: true, force: true }));

  test("a missing binary is FNRUN_RUNC_MISSING, a user error with the fix", async () => {
    const binary = join(dir, "runc");
    await assert.rejects(new Runc({ root: dir, binary }).list(), {
      code: "FNRUN_RUNC_MISSING",
      kind: "user",
      message: `runc not found at \`${binary}\`: install it with \`apt-get install runc\``,
    });
  });

  test("a failing command names the operation, the container and runc's message", async () => {
    await assert.rejects(new Runc({ root: dir }).state("nope"), {
      code: "FNRUN_RUNC_FAILED",
      kind: "system",
      message: "runc state `nope`: exit code 1: container does not exist",
    });
  });

  test("list of an empty (even missing) root is []", async () => {
    assert.deepEqual(await new Runc({ root: join(dir, "missing") }).list(), []);
  });

  test("the constructor requires a root", () => {
    assert.throws(() => new Runc({} as never), TypeError);
  });
});

test("runcMissing for the default binary says PATH", async () => {
  const { runcMissing } = await import("../../runtime/errors.ts");
  assert.equal(runcMissing("runc").message, "runc not found on PATH: install it with `apt-get install runc`");
});
