/**
 * @module runtime/spec
 * The OCI runtime spec (config.json) of a container, built like containerd's
 * `pkg/oci/spec_opts.go`: a base spec plus small pure options, each of which sets one
 * aspect. Only the fields fnrun uses are typed.
 * Spec: https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config.md
 */
import { defaultSeccompProfile } from "./seccomp.ts";

export interface Mount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface Namespace {
  type: NamespaceType;
  path?: string;
}

export type NamespaceType = "pid" | "mount" | "ipc" | "uts" | "network" | "user" | "cgroup";

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Device {
  path: string;
  type: "c" | "b" | "u" | "p";
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceRule {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

export interface Capabilities {
  bounding: string[];
  effective: string[];
  inheritable: string[];
  permitted: string[];
  ambient: string[];
}

export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";
}

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: SeccompSyscall[];
}

export interface Spec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities?: Capabilities;
    rlimits?: Rlimit[];
    noNewPrivileges?: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: Mount[];
  linux: {
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
    namespaces: Namespace[];
    devices?: Device[];
    cgroupsPath?: string;
    resources: {
      devices?: DeviceRule[];
      memory?: { limit?: number; swap?: number };
      cpu?: { quota?: number; period?: number; shares?: number };
      pids?: { limit: number };
    };
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: Seccomp;
  };
}

/** One aspect of a spec, applied in place. */
export type SpecOpt = (s: Spec) => void;

/** The CFS period fnrun uses; a quota of `cpus * period` gives `cpus` cores. */
export const CPU_PERIOD_US = 100_000;

/** Paths hidden from the container, as Docker and containerd hide them (kernel info leaks). */
export const DEFAULT_MASKED_PATHS = [
  "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/interrupts", "/sys/firmware",
];

/** Paths the container may read but never write (kernel tunables). */
export const DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** The only device nodes a function gets (the set every OCI runtime treats as safe). */
export const DEFAULT_DEVICES: Device[] = [
  { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/zero", type: "c", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/full", type: "c", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/random", type: "c", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/urandom", type: "c", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/tty", type: "c", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

/** Builds a spec from the base (standard mounts, default devices) and the options, in order. */
export function generateSpec(...opts: SpecOpt[]): Spec {
  const s = baseSpec();
  for (const opt of opts) opt(s);
  return s;
}

function baseSpec(): Spec {
  return {
    ociVersion: "1.0.2",
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: [], env: [], cwd: "/" },
    root: { path: "rootfs", readonly: true },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      // gid=5 is the tty group; the user namespace maps it, so the option is allowed.
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      // sysfs can be mounted in a user namespace only with its own network namespace (fnrun always has one).
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      namespaces: [],
      devices: DEFAULT_DEVICES.map((d) => ({ ...d })),
      resources: {
        devices: [
          { allow: false, access: "rwm" },
          ...DEFAULT_DEVICES.map((d): DeviceRule => ({ allow: true, type: "c", major: d.major, minor: d.minor, access: "rwm" })),
        ],
      },
    },
  };
}

/** Root filesystem at `path` (absolute or relative to the bundle), optionally read-only. */
export function withRootfs(path: string, readonly: boolean): SpecOpt {
  return (s) => { s.root = { path, readonly }; };
}

/** The process to run: argv, environment (KEY=value) and working directory. */
export function withProcess(p: { args: string[]; env: string[]; cwd: string }): SpecOpt {
  return (s) => { s.process.args = [...p.args]; s.process.env = [...p.env]; s.process.cwd = p.cwd; };
}

/** Runs the process as uid:gid (container ids; the user namespace maps them to the host). */
export function withUser(uid: number, gid: number): SpecOpt {
  return (s) => { s.process.user = { uid, gid }; };
}

/** New namespaces of these types (no path: the container gets fresh ones). */
export function withNamespaces(types: NamespaceType[]): SpecOpt {
  return (s) => {
    for (const type of types) if (!s.linux.namespaces.some((n) => n.type === type)) s.linux.namespaces.push({ type });
  };
}

/** A user namespace mapping container ids 0..size-1 to host ids hostBase..hostBase+size-1. */
export function withUserNamespace(hostBase: number, size: number): SpecOpt {
  return (s) => {
    withNamespaces(["user"])(s);
    s.linux.uidMappings = [{ containerID: 0, hostID: hostBase, size }];
    s.linux.gidMappings = [{ containerID: 0, hostID: hostBase, size }];
  };
}

/** Memory limit in bytes; memory+swap is the same, so the container cannot swap beyond it. */
export function withMemoryLimit(bytes: number): SpecOpt {
  return (s) => { s.linux.resources.memory = { limit: bytes, swap: bytes }; };
}

/** CPU limit as a share of cores (0.5 = half of one core) through the CFS quota. */
export function withCpuLimit(cpus: number): SpecOpt {
  return (s) => { s.linux.resources.cpu = { quota: Math.max(1000, Math.round(cpus * CPU_PERIOD_US)), period: CPU_PERIOD_US }; };
}

/** Maximum number of tasks (processes and threads) in the container: stops fork bombs. */
export function withPidsLimit(n: number): SpecOpt {
  return (s) => { s.linux.resources.pids = { limit: n }; };
}

/** A size-limited tmpfs at `dest` (replaces a mount already at `dest`). */
export function withTmpfs(dest: string, sizeBytes: number, mode: number): SpecOpt {
  return (s) => {
    const options = ["nosuid", "nodev", "noexec", `size=${sizeBytes}`, `mode=${mode.toString(8).padStart(4, "0")}`];
    replaceMount(s, { destination: dest, type: "tmpfs", source: "tmpfs", options });
  };
}

/**
 * Bind-mounts host `src` at `dest` read-only for code: executable (a native addon is mapped from
 * it, as from the image's own /app), never writable, nosuid/nodev. The function can write only
 * to noexec places (/tmp, /dev/shm, its socket dir), so what it can execute is what the image
 * brought: no file it writes ever runs.
 */
export function withCodeMount(src: string, dest: string): SpecOpt {
  return (s) => {
    replaceMount(s, { destination: dest, type: "bind", source: src, options: ["rbind", "ro", "nosuid", "nodev"] });
  };
}

/** Bind-mounts host `src` at `dest`; nosuid/nodev/noexec always (a data dir, never code). */
export function withBindMount(src: string, dest: string, readonly: boolean): SpecOpt {
  return (s) => {
    replaceMount(s, { destination: dest, type: "bind", source: src, options: ["rbind", readonly ? "ro" : "rw", "nosuid", "nodev", "noexec"] });
  };
}

/** Hides these paths (runc binds /dev/null or an empty tmpfs over them). */
export function withMaskedPaths(paths: string[] = DEFAULT_MASKED_PATHS): SpecOpt {
  return (s) => { s.linux.maskedPaths = [...paths]; };
}

/** Makes these paths read-only inside the container. */
export function withReadonlyPaths(paths: string[] = DEFAULT_READONLY_PATHS): SpecOpt {
  return (s) => { s.linux.readonlyPaths = [...paths]; };
}

/** Sets no_new_privs: execve can never gain privileges (setuid bits, file capabilities). */
export function withNoNewPrivileges(): SpecOpt {
  return (s) => { s.process.noNewPrivileges = true; };
}

/** Empties all five capability sets. */
export function withNoCapabilities(): SpecOpt {
  return (s) => { s.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] }; };
}

/** The container's cgroup path; absolute so it is `<hierarchy>/fnrun/<id>` on v1 and v2 alike. */
export function withCgroupsPath(path: string): SpecOpt {
  return (s) => { s.linux.cgroupsPath = path; };
}

/** Soft and hard limit of open file descriptors. */
export function withRlimitNofile(n: number): SpecOpt {
  return (s) => {
    const rest = (s.process.rlimits ?? []).filter((r) => r.type !== "RLIMIT_NOFILE");
    s.process.rlimits = [...rest, { type: "RLIMIT_NOFILE", hard: n, soft: n }];
  };
}

/** The hostname inside the container's uts namespace. */
export function withHostname(name: string): SpecOpt {
  return (s) => { s.hostname = name; };
}

/**
 * A seccomp filter; by default fnrun's allow-list profile (runtime/seccomp.ts: default EPERM,
 * no mount/unshare/setns/keyctl/bpf/ptrace/io_uring, no clone with namespace flags, no vsock).
 */
export function withSeccomp(profile: Seccomp = defaultSeccompProfile()): SpecOpt {
  return (s) => { s.linux.seccomp = profile; };
}

function replaceMount(s: Spec, m: Mount): void {
  s.mounts = s.mounts.filter((x) => x.destination !== m.destination);
  s.mounts.push(m);
}
