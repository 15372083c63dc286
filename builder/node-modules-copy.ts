/**
 * @module builder/node-modules-copy
 * Copies the external packages (native-deps.ts's placements) into the build context's
 * `node_modules/`, from where the Dockerfile's `COPY node_modules /app/node_modules` takes
 * them, and hashes what was copied so that the revision changes when they do (`npm rebuild`
 * changes a `.node` file but not the bundle).
 */
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempName } from "./fs-util.ts";
import { walk, type Placement } from "./native-deps.ts";

/** One file of the copy. */
export interface CopiedFile {
  src: string;
  /** Path relative to the context (and to /app): `node_modules/better-sqlite3/lib/index.js`. */
  rel: string;
  /** 0644 or 0755: readable by the function's user whatever the source's mode was. */
  mode: number;
  placement: Placement;
}

/** Sources, headers and objects of a compile, and the type declarations: never loaded at run time. */
const BUILD_ONLY = /\.(c|cc|cpp|cxx|h|hh|hpp|hxx|gyp|gypi|o|obj|a|lib|mk|target\.mk)$|(^|\/)Makefile$|\.d\.[cm]?ts$/i;

/**
 * Whether a file of a package goes into the image. Left out: type declarations, and for a
 * package compiled here (it has a `binding.gyp`) the compile's inputs and leftovers: C/C++
 * sources and headers, gyp files, makefiles, and everything under `build/` except the `.node`
 * files and shared libraries it produced (not make's intermediate copies in `obj.target/`).
 */
export function isRuntimeFile(rel: string, compiled: boolean): boolean {
  if (/\.d\.[cm]?ts$/.test(rel)) return false;
  if (!compiled) return true;
  // make's intermediates (obj.target/ also holds a pre-copy of each .node) are never loaded.
  if (rel.startsWith("build/")) return /\.node$|\.so(\.\d+)*$/.test(rel) && !/\/(obj\.target|obj|\.deps)\//.test(rel);
  return !BUILD_ONLY.test(rel);
}

/** Every file the placements copy, in a stable order. */
export async function filesOf(placements: readonly Placement[]): Promise<CopiedFile[]> {
  const out: CopiedFile[] = [];
  for (const p of placements) {
    const rels: { rel: string; abs: string }[] = [];
    let compiled = false;
    await walk(p.src, "", (rel, isDir, abs) => {
      if (rel === "binding.gyp") compiled = true;
      if (!isDir) rels.push({ rel, abs });
    });
    for (const f of rels) {
      if (!isRuntimeFile(f.rel, compiled)) continue;
      const { mode } = await stat(f.abs);
      out.push({ src: f.abs, rel: `${p.dest}/${f.rel}`, mode: mode & 0o111 ? 0o755 : 0o644, placement: p });
    }
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** `sha256:` over every copied file's path, mode and content. */
export async function digestOf(files: readonly CopiedFile[]): Promise<string> {
  const h = createHash("sha256");
  for (const f of files) {
    const content = createHash("sha256").update(await readFile(f.src)).digest("hex");
    h.update(`${f.rel}\0${f.mode.toString(8)}\0${content}\n`);
  }
  return `sha256:${h.digest("hex")}`;
}

/** The file beside the context's node_modules that records its digest (docker build ignores it). */
const STAMP = "node_modules.sha256";

/**
 * Makes `<contextDir>/node_modules` hold exactly `files`, unless its recorded digest is already
 * `digest`. Written into a temp dir and renamed into place, so a failed copy leaves the old
 * tree. With no files, the tree and its stamp are removed. Returns whether anything was written.
 */
export async function writeNodeModules(contextDir: string, files: readonly CopiedFile[], digest: string | null): Promise<boolean> {
  const target = path.join(contextDir, "node_modules");
  const stamp = path.join(contextDir, STAMP);
  if (!digest) {
    const had = (await readFile(stamp, "utf8").catch(() => null)) !== null;
    await rm(target, { recursive: true, force: true });
    await rm(stamp, { force: true });
    return had;
  }
  if ((await readFile(stamp, "utf8").catch(() => "")) === digest && (await stat(target).catch(() => null))?.isDirectory()) return false;
  const tmp = path.join(contextDir, `.${tempName()}`);
  try {
    const dirs = new Set<string>();
    for (const f of files) for (let d = path.dirname(f.rel); d !== "." && !dirs.has(d); d = path.dirname(d)) dirs.add(d);
    for (const d of [...dirs].sort()) await mkdir(path.join(tmp, d), { recursive: true });
    for (const f of files) {
      const dest = path.join(tmp, f.rel);
      await copyFile(f.src, dest);
      await chmod(dest, f.mode);
    }
    // mkdir's mode is narrowed by the umask; the function's user must read every directory.
    for (const d of dirs) await chmod(path.join(tmp, d), 0o755);
    const old = path.join(contextDir, `.${tempName()}`);
    await rename(target, old).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await rename(path.join(tmp, "node_modules"), target);
    await writeFile(stamp, digest);
    await rm(old, { recursive: true, force: true });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return true;
}
