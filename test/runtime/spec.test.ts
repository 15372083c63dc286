import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DEFAULT_DEVICES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, generateSpec, withBindMount, withCodeMount, withCgroupsPath, withCpuLimit,
  withHostname, withMaskedPaths, withMemoryLimit, withNamespaces, withNoCapabilities, withNoNewPrivileges, withPidsLimit,
  withProcess, withReadonlyPaths, withRlimitNofile, withRootfs, withSeccomp, withTmpfs, withUser, withUserNamespace,
} from "../../runtime/spec.ts";
import {
  AF_VSOCK, CLONE_NAMESPACE_FLAGS, defaultSeccompProfile, ENOSYS, EPERM, SECCOMP_ALLOWED, SECCOMP_BLOCKED,
} from "../../runtime/seccomp.ts";

describe("generateSpec", () => {
  test("base spec: standard mounts, only the default devices, device cgroup denies all but those", () => {
    const s = generateSpec();
    assert.equal(s.ociVersion, "1.0.2");
    assert.equal(s.process.terminal, false);
    assert.deepEqual(s.mounts.map((m) => m.destination), ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]);
    assert.ok(s.mounts.find((m) => m.destination === "/sys")!.options!.includes("ro"));
    assert.deepEqual(s.linux.devices!.map((d) => d.path), ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]);
    assert.deepEqual(s.linux.resources.devices![0], { allow: false, access: "rwm" });
    assert.deepEqual(
      s.linux.resources.devices!.slice(1).map((r) => `${r.allow}:${r.type}:${r.major}:${r.minor}`),
      DEFAULT_DEVICES.map((d) => `true:c:${d.major}:${d.minor}`),
    );
  });

  test("options apply in order and each call returns a fresh spec", () => {
    const a = generateSpec(withHostname("a"), withHostname("b"));
    assert.equal(a.hostname, "b");
    a.linux.devices!.pop();
    assert.equal(generateSpec().linux.devices!.length, 6);
  });

  test("withRootfs", () => {
    assert.deepEqual(generateSpec(withRootfs("/r", true)).root, { path: "/r", readonly: true });
    assert.deepEqual(generateSpec(withRootfs("rootfs", false)).root, { path: "rootfs", readonly: false });
  });

  test("withProcess", () => {
    const s = generateSpec(withProcess({ args: ["node", "a.mjs"], env: ["A=1"], cwd: "/app" }));
    assert.deepEqual(s.process.args, ["node", "a.mjs"]);
    assert.deepEqual(s.process.env, ["A=1"]);
    assert.equal(s.process.cwd, "/app");
  });

  test("withUser", () => {
    assert.deepEqual(generateSpec(withUser(1000, 1001)).process.user, { uid: 1000, gid: 1001 });
  });

  test("withNamespaces adds each type once", () => {
    const s = generateSpec(withNamespaces(["pid", "mount", "ipc", "uts", "network", "cgroup"]), withNamespaces(["pid"]));
    assert.deepEqual(s.linux.namespaces, ["pid", "mount", "ipc", "uts", "network", "cgroup"].map((type) => ({ type })));
  });

  test("withUserNamespace maps container 0..size-1 to hostBase..", () => {
    const s = generateSpec(withUserNamespace(100000, 65536));
    assert.deepEqual(s.linux.namespaces, [{ type: "user" }]);
    assert.deepEqual(s.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.deepEqual(s.linux.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  });

  test("withMemoryLimit sets swap equal to the limit (no swap beyond it)", () => {
    assert.deepEqual(generateSpec(withMemoryLimit(64 * 1024 * 1024)).linux.resources.memory, { limit: 67108864, swap: 67108864 });
  });

  test("withCpuLimit: quota = cpus * 100000 per 100000 period", () => {
    assert.deepEqual(generateSpec(withCpuLimit(0.5)).linux.resources.cpu, { quota: 50000, period: 100000 });
    assert.deepEqual(generateSpec(withCpuLimit(2)).linux.resources.cpu, { quota: 200000, period: 100000 });
    assert.equal(generateSpec(withCpuLimit(0.001)).linux.resources.cpu!.quota, 1000, "the kernel's minimum quota is 1 ms");
  });

  test("withPidsLimit", () => {
    assert.deepEqual(generateSpec(withPidsLimit(64)).linux.resources.pids, { limit: 64 });
  });

  test("withTmpfs sets size and mode, replacing a mount at the same place", () => {
    const s = generateSpec(withTmpfs("/tmp", 16 * 1024 * 1024, 0o1777), withTmpfs("/dev/shm", 1024, 0o1777));
    const tmp = s.mounts.find((m) => m.destination === "/tmp")!;
    assert.deepEqual(tmp, { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "size=16777216", "mode=1777"] });
    const shm = s.mounts.filter((m) => m.destination === "/dev/shm");
    assert.equal(shm.length, 1);
    assert.ok(shm[0].options!.includes("size=1024"));
  });

  test("withBindMount", () => {
    const s = generateSpec(withBindMount("/host/sock", "/run/fnrun", false), withBindMount("/host/ro", "/data", true));
    assert.deepEqual(s.mounts.find((m) => m.destination === "/run/fnrun"), {
      destination: "/run/fnrun", type: "bind", source: "/host/sock", options: ["rbind", "rw", "nosuid", "nodev", "noexec"],
    });
    assert.equal(s.mounts.find((m) => m.destination === "/data")!.options![1], "ro");
  });

  test("withCodeMount: read-only and executable (addons are mapped from it), never suid or devices", () => {
    const s = generateSpec(withCodeMount("/host/code", "/run/fnrun-code"));
    assert.deepEqual(s.mounts.find((m) => m.destination === "/run/fnrun-code"), {
      destination: "/run/fnrun-code", type: "bind", source: "/host/code", options: ["rbind", "ro", "nosuid", "nodev"],
    });
  });

  test("withMaskedPaths and withReadonlyPaths default to Docker's lists", () => {
    const s = generateSpec(withMaskedPaths(), withReadonlyPaths());
    assert.deepEqual(s.linux.maskedPaths, [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
      "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/interrupts", "/sys/firmware",
    ]);
    assert.deepEqual(s.linux.readonlyPaths, ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
    assert.deepEqual(s.linux.maskedPaths, DEFAULT_MASKED_PATHS);
    assert.deepEqual(s.linux.readonlyPaths, DEFAULT_READONLY_PATHS);
    assert.deepEqual(generateSpec(withMaskedPaths(["/x"])).linux.maskedPaths, ["/x"]);
  });

  test("withNoNewPrivileges", () => {
    assert.equal(generateSpec(withNoNewPrivileges()).process.noNewPrivileges, true);
  });

  test("withNoCapabilities empties all five sets", () => {
    assert.deepEqual(generateSpec(withNoCapabilities()).process.capabilities, { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
  });

  test("withCgroupsPath", () => {
    assert.equal(generateSpec(withCgroupsPath("/fnrun/hello-1")).linux.cgroupsPath, "/fnrun/hello-1");
  });

  test("withRlimitNofile replaces an earlier NOFILE limit", () => {
    assert.deepEqual(generateSpec(withRlimitNofile(10), withRlimitNofile(4096)).process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }]);
  });

  test("withHostname", () => {
    assert.equal(generateSpec(withHostname("hello-k3x9")).hostname, "hello-k3x9");
  });

  test("withSeccomp: an allow list, default EPERM, like Docker's default profile", () => {
    const sc = generateSpec(withSeccomp()).linux.seccomp!;
    assert.equal(sc.defaultAction, "SCMP_ACT_ERRNO");
    assert.equal(sc.defaultErrnoRet, EPERM);
    assert.ok(sc.architectures!.includes("SCMP_ARCH_X86_64") && sc.architectures!.includes("SCMP_ARCH_X86"), "32-bit entry points filtered too");
    const allowed = new Set(sc.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args).flatMap((r) => r.names));
    // What node needs to boot and serve (threads, epoll, sockets, files, timers, child processes).
    for (const name of ["read", "write", "openat", "mmap", "futex", "epoll_wait", "epoll_ctl", "accept4", "bind", "listen", "connect", "execve", "wait4", "pipe2", "statx", "getrandom", "rseq", "exit_group"]) {
      assert.ok(allowed.has(name), `${name} allowed`);
    }
  });

  test("withSeccomp blocks the issue's list: never allowed unconditionally", () => {
    const sc = generateSpec(withSeccomp()).linux.seccomp!;
    const unconditional = new Set(sc.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args).flatMap((r) => r.names));
    const required = ["mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
      "userfaultfd", "kexec_load", "ptrace", "io_uring_setup", "io_uring_enter", "io_uring_register", "clone", "clone3", "socket"];
    for (const name of required) assert.ok(!unconditional.has(name), `${name} must not be allowed unconditionally`);
    for (const name of SECCOMP_BLOCKED) assert.ok(!sc.syscalls.some((r) => r.action === "SCMP_ACT_ALLOW" && r.names.includes(name)), `${name} blocked`);
    assert.equal(new Set(SECCOMP_ALLOWED).size, SECCOMP_ALLOWED.length, "no duplicates");
  });

  test("withSeccomp: clone only without namespace flags, clone3 ENOSYS, socket but AF_VSOCK", () => {
    const sc = generateSpec(withSeccomp()).linux.seccomp!;
    const clone = sc.syscalls.filter((r) => r.names.includes("clone"));
    assert.deepEqual(clone, [{ names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] }]);
    assert.equal(CLONE_NAMESPACE_FLAGS, 0x7e020000, "NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET");
    assert.deepEqual(sc.syscalls.filter((r) => r.names.includes("clone3")), [{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS }]);
    assert.deepEqual(sc.syscalls.filter((r) => r.names.includes("socket")), [{ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_NE" }] }]);
    assert.equal(AF_VSOCK, 40);
  });

  test("withSeccomp takes another profile, and each default profile is a fresh object", () => {
    const custom = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [] };
    assert.equal(generateSpec(withSeccomp(custom)).linux.seccomp, custom);
    const a = defaultSeccompProfile();
    a.syscalls[0].names.push("mount");
    assert.ok(!defaultSeccompProfile().syscalls[0].names.includes("mount"));
  });
});
