/**
 * @module builder/externals
 * Which npm packages esbuild must leave out of the bundle (and build.ts copies into the image):
 *
 * - **native**: the package or anything in its runtime dependency closure ships a `.node` file,
 *   a `binding.gyp` or `prebuilds/` (sharp's binary is in its optional dependency
 *   `@img/sharp-linux-x64`). A binary cannot be inlined, and the JS that loads it finds it
 *   relative to its own file (`bindings`, `node-gyp-build`, `require("../build/Release/x.node")`).
 * - **own files**: a module of the package that the bundle would include mentions `__dirname`,
 *   `__filename` or `import.meta.url`/`dirname`/`filename`: it finds files next to itself (figlet's
 *   fonts, pino's worker files, yargs' locales), which the one-file bundle would not have.
 *
 * An external package runs from /app/node_modules exactly as Node runs it from the folder.
 * Found in up to two esbuild passes: the first marks the native ones and lists what it
 * included; if an included package's module mentions one of those names, the second pass
 * leaves that package out too.
 */
import { readFile, realpath, stat } from "node:fs/promises";
import { isBuiltin } from "node:module";
import path from "node:path";
import type { Metafile, Plugin } from "esbuild";
import type { PackageCache } from "./native-deps.ts";

/** A package the bundle imports but does not contain. */
export interface ExternalPackage {
  /** The name it is imported by (`better-sqlite3`, `@img/sharp-linux-x64`). */
  name: string;
  /** Real path of its directory. */
  dir: string;
  reason: "native" | "own-files";
  /** The file that decided it: a `.node` file, or a module that mentions `__dirname`. */
  evidence: string;
}

/** What the plugin learns during one bundling. */
export interface ExternalsState {
  cache: PackageCache;
  /** Package dirs to leave out because they read their own files (from the previous pass). */
  ownFiles: Map<string, string>;
  /** Externals found, by name. */
  found: Map<string, ExternalPackage[]>;
  /** Every package dir a bare import resolved to (to tell which package an input file is from). */
  roots: Set<string>;
}

const INNER = Symbol("fnrun-externals");

/** Mentions of the module's own location (`\b` keeps `my__dirname` out). */
export const OWN_FILES = /(?<![\w$])(__dirname|__filename)(?![\w$])|\bimport\.meta\.(url|dirname|filename)\b/;

/** The esbuild plugin that leaves external packages as `require("name")` / `import "name"`. */
export function externalsPlugin(state: ExternalsState): Plugin {
  return {
    name: "fnrun-externals",
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if ((args.pluginData as Record<symbol, boolean> | undefined)?.[INNER] || isBuiltin(args.path)) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { [INNER]: true } });
        if (resolved.errors.length > 0 || resolved.external || !path.isAbsolute(resolved.path)) return undefined; // esbuild reports it again, with the location
        const name = packageName(args.path);
        const root = await packageRoot(resolved.path, name);
        if (!root) return undefined;
        state.roots.add(root);
        const native = await state.cache.nativeIn(root);
        const own = state.ownFiles.get(root);
        if (!native && !own) return { path: resolved.path, namespace: resolved.namespace, sideEffects: resolved.sideEffects, suffix: resolved.suffix };
        const list = state.found.get(name) ?? [];
        if (!list.some((e) => e.dir === root)) list.push({ name, dir: root, reason: native ? "native" : "own-files", evidence: (native ?? own)! });
        state.found.set(name, list);
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * The packages whose included modules mention their own location, found in a pass's
 * metafile: dir → the first such file. Only files of packages reached by a bare import count;
 * the function's own files are bundled, with `__dirname` meaning the bundle's directory.
 */
export async function ownFilePackages(metafile: Metafile, workingDir: string, roots: Set<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const sorted = [...roots].sort((a, b) => b.length - a.length); // the innermost package wins
  for (const input of Object.keys(metafile.inputs)) {
    const file = path.resolve(workingDir, input);
    const root = sorted.find((r) => file.startsWith(r + path.sep));
    if (!root || out.has(root)) continue;
    const text = await readFile(file, "utf8").catch(() => "");
    if (OWN_FILES.test(text)) out.set(root, file);
  }
  return out;
}

/** `@scope/pkg/sub` → `@scope/pkg`; `pkg/sub` → `pkg`. */
export function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * The directory of package `name` that `file` belongs to: the nearest ancestor that is
 * `…/node_modules/<name>` (npm, yarn, pnpm's store), or whose package.json is named `name`
 * (a workspace package linked in).
 */
async function packageRoot(file: string, name: string): Promise<string | null> {
  const suffix = `${path.sep}node_modules${path.sep}${name.split("/").join(path.sep)}`;
  for (let dir = path.dirname(file); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (dir.endsWith(suffix) && (await stat(path.join(dir, "package.json")).catch(() => null))) return realpath(dir);
    const pj = await readFile(path.join(dir, "package.json"), "utf8").catch(() => null);
    if (pj !== null) {
      try {
        if ((JSON.parse(pj) as { name?: string }).name === name) return realpath(dir);
      } catch {
        // a broken package.json is esbuild's to report
      }
    }
  }
  return null;
}
