import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { cgroupMode, cgroupMounts, cgroupPathsOf, cgroupsPathFor, parseMountinfo, parseProcCgroup } from "../../runtime/cgroup.ts";

const V2_MOUNTINFO = "25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
const HYBRID_MOUNTINFO = [
  "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
  "31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory",
  "32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
  "33 25 0:29 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids",
  "34 25 0:30 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd",
].join("\n");

describe("cgroup parsing", () => {
  test("v2: every controller is the unified directory", () => {
    const mounts = parseMountinfo(V2_MOUNTINFO);
    assert.equal(cgroupMode(mounts), "v2");
    assert.deepEqual(parseProcCgroup("0::/fnrun/hello-1\n", mounts), {
      memory: "/sys/fs/cgroup/fnrun/hello-1",
      cpu: "/sys/fs/cgroup/fnrun/hello-1",
      pids: "/sys/fs/cgroup/fnrun/hello-1",
    });
  });

  test("hybrid: v1 controllers (also co-mounted ones), unified ignored for limits", () => {
    const mounts = parseMountinfo(HYBRID_MOUNTINFO);
    assert.equal(cgroupMode(mounts), "hybrid");
    assert.equal(mounts.v1.get("name=systemd")!.mountPoint, "/sys/fs/cgroup/systemd");
    const text = "12:pids:/fnrun/a\n4:memory:/fnrun/a\n3:cpu,cpuacct:/fnrun/a\n1:name=systemd:/fnrun/a\n0::/fnrun/a\n";
    assert.deepEqual(parseProcCgroup(text, mounts), {
      memory: "/sys/fs/cgroup/memory/fnrun/a",
      cpu: "/sys/fs/cgroup/cpu,cpuacct/fnrun/a",
      pids: "/sys/fs/cgroup/pids/fnrun/a",
    });
  });

  test("v1 without a cgroup2 mount", () => {
    const mounts = parseMountinfo(HYBRID_MOUNTINFO.split("\n").slice(1).join("\n"));
    assert.equal(cgroupMode(mounts), "v1");
  });

  test("a missing controller is an FNRUN_CGROUP error naming it", () => {
    assert.throws(() => parseProcCgroup("4:memory:/x\n", parseMountinfo(HYBRID_MOUNTINFO)), {
      code: "FNRUN_CGROUP",
      message: "cgroup of controller `cpu`: not found in /proc/<pid>/cgroup or the mounts",
    });
  });

  test("cgroupsPathFor is absolute under /fnrun", () => {
    assert.equal(cgroupsPathFor("hello-k3x9"), "/fnrun/hello-k3x9");
  });
});

describe("cgroups of this machine", () => {
  test("mode matches the mounts and our own process resolves", async () => {
    const mode = cgroupMode();
    const hasUnifiedRoot = (() => {
      try { readFileSync("/sys/fs/cgroup/cgroup.controllers"); return true; } catch { return false; }
    })();
    assert.equal(mode === "v2", hasUnifiedRoot);
    const paths = await cgroupPathsOf(process.pid);
    if (mode !== "v2") {
      assert.ok(paths.memory.startsWith(cgroupMounts().v1.get("memory")!.mountPoint));
      readFileSync(`${paths.memory}/memory.limit_in_bytes`);
      readFileSync(`${paths.pids}/cgroup.procs`); // a root cgroup has no pids.max
    } else readFileSync(`${paths.memory}/memory.max`);
  });
});
