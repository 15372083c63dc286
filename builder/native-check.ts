/**
 * @module builder/native-check
 * Build-time checks of the native addons (`.node` files) a function image will carry, against
 * what the image runs: architecture, libc (glibc vs musl), the shared libraries and symbol
 * versions they need (GLIBC_2.38 against a glibc 2.36, GLIBCXX_…), and the Node ABI of
 * non-N-API addons. A mismatch fails the build with FNRUN_BUILD_NATIVE_MISMATCH, naming the
 * package, the file, what it was built for, what the image runs and the fix, so that it never
 * surfaces as a crash at a function's first request.
 */
import { lstat, readdir, readlink, realpath } from "node:fs/promises";
import path from "node:path";
import { nodeRuntimeFiles } from "./base-files.ts";
import { ELF_MACHINES, readElf, type ElfInfo } from "./elf.ts";

/** What the image runs, as far as a native addon cares. */
export interface NativeTarget {
  /** Node's name for the architecture (`process.arch`). */
  arch: string;
  libc: "glibc" | "musl";
  /** `process.versions.modules` of the image's node (the NODE_MODULE_VERSION); unknown: not checked. */
  modules?: string;
  /** Node's version, for messages. */
  nodeVersion?: string;
  /** The shared libraries the image has: soname → the file on this machine (to read the symbol versions it defines). */
  libraries: Map<string, string>;
  /**
   * Where glibc's own other libraries (libresolv, librt, libutil, …) are, when the image's
   * glibc is this machine's (fnrun's base): an addon that needs one gets it added to its image
   * from `sourceDir` at `imageDir`, the same files of the same glibc.
   */
  glibcCompanions?: { sourceDir: string; imageDir: string };
}

/** A library of glibc added to a function image beside the base's (NativeTarget.glibcCompanions). */
export interface AddedLibrary {
  soname: string;
  /** The file on this machine. */
  source: string;
  /** Its path in the image (`/lib/x86_64-linux-gnu/libresolv.so.2`). */
  target: string;
}

/** A `.node` file to check, with the package it belongs to (for the message). */
export interface NativeFile {
  /** The package's name as it is installed (`better-sqlite3`, `@img/sharp-linux-x64`). */
  pkg: string;
  /** Absolute path of the file on the build machine. */
  file: string;
  /** The file as it will be in the image, relative to /app (`node_modules/better-sqlite3/build/Release/x.node`). */
  shown: string;
  /** The package that the function imports and that brought this one in (for the fix). */
  topLevel: string;
  /** For a shared library of the copy: the file (relative to /app) that needs it. */
  neededBy?: string;
}

export interface NativeProblem {
  pkg: string;
  topLevel: string;
  shown: string;
  /** What is wrong, in a few words: `built for linux-arm64 glibc, the image runs linux-x64 glibc`. */
  what: string;
  kind: "arch" | "libc" | "abi" | "library" | "version";
}

/** NODE_MODULE_VERSION → Node major, for messages (https://github.com/nodejs/node/blob/main/doc/abi_version_registry.json). */
const NODE_MAJOR_OF_ABI: Record<string, string> = { "93": "16", "108": "18", "115": "20", "120": "21", "127": "22", "131": "23", "137": "24", "141": "25" };

/** The target of a fnrun base image: it is made from the node that runs fnrun and the libraries it links. */
export async function hostTarget(execPath: string = process.execPath): Promise<NativeTarget> {
  const libraries = new Map<string, string>();
  let glibcCompanions: NativeTarget["glibcCompanions"];
  for (const f of (await nodeRuntimeFiles(execPath)).slice(1)) {
    libraries.set(path.basename(f.target), f.source);
    if (path.basename(f.target) === "libc.so.6") glibcCompanions = { sourceDir: path.dirname(f.source), imageDir: path.posix.dirname(f.target) };
  }
  return { arch: process.arch, libc: "glibc", modules: process.versions.modules, nodeVersion: process.versions.node, libraries, glibcCompanions };
}

const OCI_ARCH: Record<string, string> = { amd64: "x64", arm64: "arm64", "386": "ia32", arm: "arm", ppc64le: "ppc64", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
const ABI_OF_NODE_MAJOR = Object.fromEntries(Object.entries({ "93": "16", "108": "18", "115": "20", "120": "21", "127": "22", "131": "23", "137": "24", "141": "25" }).map(([abi, major]) => [major, abi]));
const LIB_DIRS = ["lib", "lib64", "usr/lib", "usr/lib64", "usr/local/lib", "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"];

/**
 * The target of another base image (`base = "REF"`), read from its unpacked rootfs and config:
 * the architecture from the config, musl when the rootfs has `ld-musl-*`, the libraries in the
 * usual directories, Node's ABI from the official images' `NODE_VERSION` (unknown: not checked).
 */
export async function rootfsTarget(rootfs: string, architecture: string | undefined, env: readonly string[]): Promise<NativeTarget> {
  const libraries = new Map<string, string>();
  let musl = false;
  for (const d of LIB_DIRS) {
    for (const name of await readdir(path.join(rootfs, d)).catch(() => [] as string[])) {
      if (/^ld-musl-.*\.so\.1$/.test(name)) musl = true;
      if (/\.so(\.\d+)*$/.test(name) && !libraries.has(name)) {
        const file = await insideRootfs(rootfs, path.posix.join("/", d, name));
        if (file) libraries.set(name, file);
      }
    }
  }
  // musl's libc is the loader itself: a musl addon asks for libc.musl-<arch>.so.1, an alias of it.
  const nodeVersion = /^NODE_VERSION=v?(\d+\.\d+\.\d+)/.exec(env.find((e) => e.startsWith("NODE_VERSION=")) ?? "")?.[1];
  return {
    arch: OCI_ARCH[architecture ?? ""] ?? architecture ?? process.arch,
    libc: musl ? "musl" : "glibc",
    modules: nodeVersion ? ABI_OF_NODE_MAJOR[nodeVersion.split(".")[0]] : undefined,
    nodeVersion,
    libraries,
  };
}

/** Follows symlinks the way they resolve inside the container (absolute targets from the rootfs). */
async function insideRootfs(rootfs: string, p: string): Promise<string | null> {
  for (let hops = 0; hops < 16; hops++) {
    const host = path.join(rootfs, p);
    const st = await lstat(host).catch(() => null);
    if (!st) return null;
    if (!st.isSymbolicLink()) return st.isFile() ? host : null;
    const t = await readlink(host);
    p = path.posix.resolve(path.posix.dirname(p), t);
  }
  return null;
}

const BITS_32 = new Set(["ia32", "arm"]);

/**
 * Checks one `.node` file against `target`, and the shared libraries of the copy it loads.
 * `copied` maps a path relative to /app to its source when that file is copied: a library found
 * through RUNPATH (`$ORIGIN/../../sharp-libvips-linux-x64/lib`) is looked up from the file's place
 * in the copy, since only the copy goes into the image, and is checked the same way (libvips
 * needs libresolv.so.2, which node does not link).
 */
export async function checkNativeFile(f: NativeFile, target: NativeTarget, copied: (rel: string) => string | undefined, added = new Map<string, AddedLibrary>(), seen = new Set<string>()): Promise<NativeProblem[]> {
  seen.add(f.shown);
  let elf: ElfInfo | null;
  try {
    elf = await readElf(f.file);
  } catch (err) {
    return [{ ...pick(f), kind: "arch", what: `cannot be read as a shared object (${(err as Error).message})` }];
  }
  if (!elf) return [{ ...pick(f), kind: "arch", what: "is not an ELF shared object (built for another operating system?)" }];
  const name = ELF_MACHINES[elf.machine] ?? `machine-${elf.machine}`;
  // x32 and friends: the right machine in the other class is another ABI all the same.
  const arch = elf.bits === (BITS_32.has(name) ? 32 : 64) ? name : `${name}-${elf.bits}bit`;
  const libc = elf.needed.some((n) => /^(libc\.musl-|ld-musl-)/.test(n)) ? "musl" : elf.needed.includes("libc.so.6") ? "glibc" : target.libc;
  const by = f.neededBy ? ` (needed by ${f.neededBy})` : "";
  if (arch !== target.arch || libc !== target.libc) {
    return [{ ...pick(f), kind: arch !== target.arch ? "arch" : "libc", what: `${by ? `${by.trim()} ` : ""}is built for linux-${arch} ${libc}, the image runs linux-${target.arch} ${target.libc}` }];
  }
  const problems: NativeProblem[] = [];
  // Node loads an N-API addon by `napi_register_module_v1` on any Node version; a classic addon
  // exports `node_register_module_v<NODE_MODULE_VERSION>` and Node looks up only its own number.
  const abi = elf.exports.map((e) => /^node_register_module_v(\d+)$/.exec(e)?.[1]).find(Boolean);
  const napi = elf.exports.includes("napi_register_module_v1");
  if (abi && !napi && target.modules && abi !== target.modules) {
    const builtFor = NODE_MAJOR_OF_ABI[abi] ? `Node ${NODE_MAJOR_OF_ABI[abi]} (NODE_MODULE_VERSION ${abi})` : `NODE_MODULE_VERSION ${abi}`;
    problems.push({ ...pick(f), kind: "abi", what: `is built for ${builtFor}, the image runs Node ${target.nodeVersion ?? "?"} (NODE_MODULE_VERSION ${target.modules})` });
  }
  const origin = path.posix.dirname(f.shown);
  for (const lib of elf.needed) {
    const file = target.libraries.get(lib) ?? (target.libc === "musl" && /^libc\.musl-/.test(lib) ? [...target.libraries].find(([n]) => n.startsWith("ld-musl-"))?.[1] : undefined);
    if (file) {
      const inImage = await versionsDefined(file);
      const wanted = elf.versionsNeeded[lib] ?? [];
      const missing = wanted.filter((v) => !inImage.has(v) && v !== "GLIBC_PRIVATE");
      if (missing.length > 0 && inImage.size > 0) {
        problems.push({ ...pick(f), kind: "version", what: `${by ? `${by.trim()} ` : ""}needs ${missing.sort(compareVersions).slice(-1)[0]} from ${lib}, the image's ${lib} has up to ${newest(inImage, missing[0])}` });
      }
      continue;
    }
    const rel = elf.runpath
      .filter((d) => d.includes("$"))
      .map((d) => path.posix.join(d.replace(/\$\{?ORIGIN\}?/g, origin), lib))
      .find((r) => copied(r) !== undefined);
    if (rel) {
      if (!seen.has(rel)) problems.push(...(await checkNativeFile({ pkg: f.pkg, topLevel: f.topLevel, file: copied(rel)!, shown: rel, neededBy: f.shown }, target, copied, added, seen)));
      continue;
    }
    const companion = added.get(lib) ?? (await glibcCompanion(lib, target));
    if (companion) {
      if (!added.has(lib)) {
        added.set(lib, companion);
        problems.push(...(await checkNativeFile({ pkg: f.pkg, topLevel: f.topLevel, file: companion.source, shown: companion.target, neededBy: f.shown }, target, copied, added, seen)));
      }
      continue;
    }
    problems.push({ ...pick(f), kind: "library", what: `${by ? `${by.trim()} ` : ""}needs the shared library ${lib}, which is neither in the image nor in the package` });
  }
  return problems;
}

/** `lib` as one of glibc's own libraries beside this machine's libc (it defines GLIBC_2.* versions), or null. */
async function glibcCompanion(lib: string, target: NativeTarget): Promise<AddedLibrary | null> {
  if (!target.glibcCompanions || lib.includes("/")) return null;
  const source = path.join(target.glibcCompanions.sourceDir, lib);
  const versions = await versionsDefined(source);
  if (![...versions].some((v) => /^GLIBC_2\./.test(v))) return null;
  return { soname: lib, source: await realpath(source), target: path.posix.join(target.glibcCompanions.imageDir, lib) };
}

const defined = new Map<string, Promise<Set<string>>>();
/** The symbol versions a library of the image defines (read once per file). */
function versionsDefined(file: string): Promise<Set<string>> {
  let p = defined.get(file);
  if (!p) defined.set(file, (p = readElf(file).then((e) => new Set(e?.versionsDefined ?? []), () => new Set<string>())));
  return p;
}

function pick(f: NativeFile) {
  return { pkg: f.pkg, topLevel: f.topLevel, shown: f.shown };
}

/** The newest version of the family of `like` (GLIBC_, GLIBCXX_, CXXABI_) that `defined` has. */
function newest(defined: Set<string>, like: string): string {
  const family = like.replace(/[\d.]+$/, "");
  const same = [...defined].filter((v) => v.startsWith(family) && /\d$/.test(v));
  return same.sort(compareVersions).at(-1) ?? "(none of that family)";
}

function compareVersions(a: string, b: string): number {
  const na = (a.match(/\d+/g) ?? []).map(Number);
  const nb = (b.match(/\d+/g) ?? []).map(Number);
  for (let i = 0; i < Math.max(na.length, nb.length); i++) if ((na[i] ?? 0) !== (nb[i] ?? 0)) return (na[i] ?? 0) - (nb[i] ?? 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The fix for a problem, as a command the user can run in the function folder. */
export function fixFor(p: NativeProblem, target: NativeTarget, dir: string): string {
  const platform = `a linux-${target.arch} ${target.libc} machine${target.nodeVersion ? ` with Node ${target.nodeVersion.split(".")[0]}` : ""}`;
  switch (p.kind) {
    case "arch":
    case "libc":
      return `install the ${target.arch}/${target.libc} build: in ${dir} run \`npm install --os=linux --cpu=${target.arch} --libc=${target.libc}\` (packages with per-platform optional dependencies, like sharp), or \`npm rebuild ${p.topLevel}\` on ${platform}`;
    case "abi":
      return `rebuild it for the image's Node: in ${dir} run \`npm rebuild ${p.topLevel}\` on ${platform}`;
    case "version":
      return `rebuild it against an older glibc: in ${dir} run \`npm rebuild ${p.topLevel}\` on ${platform} (glibc no newer than the image's), or install a prebuilt that targets it`;
    case "library":
      return `use a build of ${p.topLevel} that ships its libraries, or build on an image that has them (\`base = "REF"\` in config.toml)`;
  }
}
