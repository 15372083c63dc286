/**
 * @module builder/native-deps
 * The npm packages that stay out of the bundle and go into the image as files: which packages
 * are native (they or anything they depend on ship `.node` files, a `binding.gyp` or
 * `prebuilds/`), their runtime dependency closure resolved the way Node resolves it from each
 * package's real directory, and a node_modules layout for /app that makes every `require` in
 * the copy find exactly the package it found on the build machine.
 */
import { open, readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";

export interface PackageInfo {
  /** Real path of the package directory. */
  dir: string;
  /** dependencies, optionalDependencies and peerDependencies: Node resolves all three from the package's directory. */
  deps: { name: string; optional: boolean }[];
  /** Paths (relative to `dir`) of what makes it native: `.node` files, `binding.gyp`, `prebuilds`. */
  nativeMarks: string[];
}

/** Reads a package: its dependency names and whether it ships native files. */
export async function packageInfo(dir: string): Promise<PackageInfo> {
  const pj = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
  const deps = new Map<string, boolean>();
  for (const name of Object.keys(pj.peerDependencies ?? {})) deps.set(name, true); // an absent peer is the user's choice
  for (const name of Object.keys(pj.optionalDependencies ?? {})) deps.set(name, true);
  for (const name of Object.keys(pj.dependencies ?? {})) if (!deps.has(name)) deps.set(name, false);
  const nativeMarks: string[] = [];
  await walk(dir, "", async (rel, isDir) => {
    if (rel === "binding.gyp" || (isDir && rel === "prebuilds") || (!isDir && rel.endsWith(".node"))) nativeMarks.push(rel);
  });
  return { dir, deps: [...deps].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, optional]) => ({ name, optional })), nativeMarks: nativeMarks.sort() };
}

/**
 * Walks a package's files (not its node_modules), calling `visit` with the path relative to
 * `root` (posix separators), directories before their contents, siblings in no fixed order
 * (subdirectories are read in parallel). Symlinks are followed; a symlinked directory already
 * seen is skipped. Types come from readdir, so only symlinks cost a stat: this runs over every
 * package a function imports (hono: 221 directories).
 */
export async function walk(root: string, rel: string, visit: (rel: string, isDir: boolean, abs: string) => Promise<void> | void, seen = new Set<string>()): Promise<void> {
  const abs = rel ? path.join(root, rel) : root;
  if (!rel) seen.add(await realpath(root));
  const subdirs: string[] = [];
  for (const e of await readdir(abs, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === ".git") continue;
    const childRel = rel ? `${rel}/${e.name}` : e.name;
    const childAbs = path.join(abs, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const st = await stat(childAbs).catch(() => null); // a dangling symlink is skipped, as npm pack would
      isFile = !!st?.isFile();
      isDir = !!st?.isDirectory();
      if (isDir) {
        const real = await realpath(childAbs);
        if (seen.has(real)) continue; // a cycle, or a second way to the same files
        seen.add(real);
      }
    }
    if (isDir) {
      await visit(childRel, true, childAbs);
      subdirs.push(childRel);
    } else if (isFile) {
      await visit(childRel, false, childAbs);
    }
  }
  await Promise.all(subdirs.map((d) => walk(root, d, visit, seen)));
}

/** Resolves package `name` from directory `from` as Node does: `<dir>/node_modules/<name>` up the tree. Real path, or null. */
export async function resolvePackageDir(from: string, name: string): Promise<string | null> {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== "node_modules") {
      const candidate = path.join(dir, "node_modules", name);
      const st = await stat(path.join(candidate, "package.json")).catch(() => null);
      if (st?.isFile()) return realpath(candidate);
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** Reads packages once per build. */
export class PackageCache {
  readonly #infos = new Map<string, Promise<PackageInfo>>();
  readonly #native = new Map<string, Promise<string | null>>();

  info(dir: string): Promise<PackageInfo> {
    let p = this.#infos.get(dir);
    if (!p) this.#infos.set(dir, (p = packageInfo(dir)));
    return p;
  }

  /** The first native file of the package or its dependency closure (`sharp` → `@img/sharp-linux-x64/lib/…node`), or null. */
  nativeIn(dir: string): Promise<string | null> {
    let p = this.#native.get(dir);
    if (!p) this.#native.set(dir, (p = this.#findNative(dir)));
    return p;
  }

  async #findNative(dir: string): Promise<string | null> {
    for (const pkg of await this.closure(dir)) {
      const info = await this.info(pkg);
      if (info.nativeMarks.length > 0) return path.join(pkg, info.nativeMarks[0]);
    }
    return null;
  }

  /** Real dirs of the package and everything it depends on at run time (installed ones), itself first. */
  async closure(dir: string): Promise<string[]> {
    const out = [dir];
    const seen = new Set(out);
    for (let i = 0; i < out.length; i++) {
      for (const dep of (await this.info(out[i])).deps) {
        const found = await resolvePackageDir(out[i], dep.name);
        if (found && !seen.has(found)) {
          seen.add(found);
          out.push(found);
        }
      }
    }
    return out;
  }
}

/** One package copied into the image's node_modules. */
export interface Placement {
  /** The name it is required by (the folder name under node_modules; an npm alias's key). */
  name: string;
  /** Real path on the build machine. */
  src: string;
  /** Where it goes, relative to /app: `node_modules/a`, or `node_modules/a/node_modules/b` when `b` must be nested. */
  dest: string;
  /** The top-level package that brought it in (the one the function imports). */
  top: string;
}

export class ExternalConflictError extends Error {
  constructor(readonly name: string, readonly a: string, readonly b: string) {
    super(`two different packages are both imported as \`${name}\`: ${a} and ${b}`);
  }
}

/**
 * Lays the closure of `tops` out under /app/node_modules. The top-level packages go to
 * `node_modules/<name>`, where the bundle's `require` finds them; each dependency goes as high
 * as it can (hoisted, like npm) unless a different package of that name already sits on its
 * dependent's lookup path, in which case it is nested under the dependent. Walking up from any
 * copied package then finds what Node found from its real directory on the build machine.
 */
export async function planNodeModules(tops: { name: string; dir: string }[], cache: PackageCache): Promise<Placement[]> {
  const placed = new Map<string, Placement>();
  const queue: Placement[] = [];
  for (const t of [...tops].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const dest = `node_modules/${t.name}`;
    const prev = placed.get(dest);
    if (prev && prev.src !== t.dir) throw new ExternalConflictError(t.name, prev.src, t.dir);
    if (prev) continue;
    const p = { name: t.name, src: t.dir, dest, top: t.name };
    placed.set(dest, p);
    queue.push(p);
  }
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i];
    for (const dep of (await cache.info(from.src)).deps) {
      const src = await resolvePackageDir(from.src, dep.name);
      if (!src) continue; // not installed: an optional or peer dependency left out, or a broken install Node would trip on the same way
      const lookup = lookupPath(from.dest, dep.name);
      const hit = lookup.find((d) => placed.has(d));
      if (hit && placed.get(hit)!.src === src) continue; // already reachable from here
      // Taken by another package somewhere up the path: nest it right under the dependent.
      const dest = hit ? lookup[0] : lookup[lookup.length - 1];
      const p = { name: dep.name, src, dest, top: from.top };
      placed.set(dest, p);
      queue.push(p);
    }
  }
  return [...placed.values()].sort((a, b) => (a.dest < b.dest ? -1 : 1));
}

/** The places Node looks for `name` from a package at `dest` (relative to /app), nearest first. */
function lookupPath(dest: string, name: string): string[] {
  const parts = dest.split("/");
  const out: string[] = [];
  for (let n = parts.length; n >= 0; n--) {
    if (n > 0 && parts[n - 1] === "node_modules") continue;
    out.push([...parts.slice(0, n), "node_modules", name].join("/"));
  }
  return out;
}

/**
 * The first file under `dir` (an image's app/node_modules) that is machine code: a `.node` or
 * `.so` file, or an executable whose first bytes are ELF's. null when there is none or no `dir`.
 */
export async function findMachineCode(dir: string): Promise<string | null> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  for (const e of entries ?? []) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const found = await findMachineCode(p);
      if (found) return found;
    } else if (e.isFile()) {
      if (/\.node$|\.so(\.\d+)*$/.test(e.name)) return p;
      if ((await stat(p)).mode & 0o111 && (await isElf(p))) return p;
    }
  }
  return null;
}

async function isElf(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString("latin1") === "\x7fELF";
  } finally {
    await fh.close();
  }
}
