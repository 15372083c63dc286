/**
 * @module builder/bundle
 * Turns a function folder into one ESM file with esbuild: the entry and its npm dependencies,
 * with Node's builtins and the external packages (native ones, and those that read their own
 * files: externals.ts) left as imports. Errors name the file, line and column.
 */
import { createHash } from "node:crypto";
import { access } from "node:fs/promises";
import path from "node:path";
import { build, type BuildFailure, type BuildResult, type Message } from "esbuild";
import { BuildError } from "./errors.ts";
import { externalsPlugin, ownFilePackages, packageName, type ExternalPackage, type ExternalsState } from "./externals.ts";
import { PackageCache } from "./native-deps.ts";
import { SHIM_BANNER } from "./bundle-banner.ts";

/** Entry file names, in order of preference. */
export const ENTRY_NAMES = ["index.ts", "index.js", "index.mjs"] as const;

export interface Bundle {
  /** The bundled ESM module. */
  code: Uint8Array;
  /** Absolute path of the entry file the bundle was made from. */
  entry: string;
  /** `sha256:<hex>` of `code`. */
  digest: string;
  /** Packages left out of the bundle, to be copied into the image (externals.ts), sorted by name. */
  externals: ExternalPackage[];
}

export interface BundleOptions {
  /** Package reads shared with the caller (build.ts reuses them to lay out node_modules). */
  cache?: PackageCache;
}

/**
 * The bundle is ESM, so Node gives it neither `require` nor `__dirname`/`__filename`, which
 * bundled CommonJS code uses. `require`: esbuild's `__require` helper calls a `require` it finds
 * in module scope and otherwise throws "Dynamic require of … is not supported" (esbuild issue
 * #1921), so the banner declares one. `__dirname`/`__filename`: `define` renames their free
 * uses to the banner's `__fnrun_*` names, the directory and path of the bundle itself. A user's
 * own top-level `const require = createRequire(import.meta.url)` or `const __dirname = …` does
 * not collide: for ESM output on the node platform esbuild renames top-level bindings named
 * `require`, `__dirname` and `__filename` (to `require2`, …), and `define` only touches free
 * references (test/builder/shims.test.ts checks both). The banner is bundle-banner.ts.
 */
const SHIM_DEFINE = { __dirname: "__fnrun_dirname", __filename: "__fnrun_filename" };

/** Finds the entry of a function folder, or throws FNRUN_BUILD_NO_ENTRY. */
export async function findEntry(dir: string): Promise<string> {
  for (const name of ENTRY_NAMES) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next name
    }
  }
  throw new BuildError("FNRUN_BUILD_NO_ENTRY", `bundle \`${displayPath(dir)}\`: no entry file (looked for ${ENTRY_NAMES.join(", ")})`, {
    fix: `create ${path.join(displayPath(dir), "index.ts")} with a default export`,
  });
}

/**
 * Bundles the function in `dir` into a single ESM module for Node 20, leaving out the packages
 * that must run from their own files (externals.ts): a second esbuild pass runs only when the
 * first included a package that reads its own files.
 */
export async function bundleFunction(dir: string, options: BundleOptions = {}): Promise<Bundle> {
  const absDir = path.resolve(dir);
  const entry = await findEntry(absDir);
  const cache = options.cache ?? new PackageCache();
  let ownFiles = new Map<string, string>();
  for (let pass = 1; ; pass++) {
    const state: ExternalsState = { cache, ownFiles, found: new Map(), roots: new Set() };
    const result = await esbuild(absDir, entry, state);
    const more = pass === 1 ? await ownFilePackages(result.metafile!, absDir, state.roots) : new Map<string, string>();
    if (more.size > 0) {
      ownFiles = more;
      continue;
    }
    const code = result.outputFiles![0].contents;
    const digest = `sha256:${createHash("sha256").update(code).digest("hex")}`;
    return { code, entry, digest, externals: externalsOf(absDir, state) };
  }
}

async function esbuild(absDir: string, entry: string, state: ExternalsState): Promise<BuildResult> {
  try {
    return await build({
      // Paths esbuild writes into comments are relative to absWorkingDir, so the same folder
      // copied elsewhere gives the same bytes, hence the same digest and the same image.
      absWorkingDir: absDir,
      entryPoints: [entry],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      outfile: path.join(absDir, "index.mjs"),
      banner: { js: SHIM_BANNER },
      define: SHIM_DEFINE,
      plugins: [externalsPlugin(state)],
      metafile: true,
      logLevel: "silent",
    });
  } catch (err) {
    throw toBuildError(absDir, err);
  }
}

/** The externals, one per name: two different packages imported by one name cannot both be /app/node_modules/<name>. */
function externalsOf(dir: string, state: ExternalsState): ExternalPackage[] {
  const out: ExternalPackage[] = [];
  for (const [name, list] of [...state.found].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (list.length > 1) {
      throw new BuildError("FNRUN_BUILD_EXTERNAL_CONFLICT", `bundle \`${displayPath(dir)}\`: two different packages are imported as \`${name}\`: ${list.map((e) => displayPath(e.dir)).join(" and ")}; both would have to be /app/node_modules/${name}`, {
        fix: `make them one version (\`npm dedupe\`, or the same version in ${displayPath(dir)}/package.json)`,
      });
    }
    out.push(list[0]);
  }
  return out;
}

function toBuildError(dir: string, err: unknown): BuildError {
  const errors: Message[] = (err as Partial<BuildFailure>)?.errors ?? [];
  const first = errors[0];
  if (!first) {
    return new BuildError("FNRUN_BUILD_FAILED", `bundle \`${displayPath(dir)}\`: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const loc = first.location;
  const file = loc ? displayPath(path.resolve(dir, loc.file)) : displayPath(dir);
  const line = loc?.line;
  const column = loc ? loc.column + 1 : undefined;
  const where = loc ? `${file}:${line}:${column}` : file;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? "s" : ""})` : "";
  const unresolved = /^(Could not resolve |No matching export )/.test(first.text);
  const specifier = /^Could not resolve "([^"]+)"/.exec(first.text)?.[1];
  const fix = unresolved
    ? specifier && !specifier.startsWith(".") && !specifier.startsWith("/")
      ? `run \`npm install ${packageName(specifier)}\` in ${displayPath(dir)}, or fix the import`
      : "fix the import path (relative imports need the file to exist)"
    : "fix the code at that position";
  return new BuildError(unresolved ? "FNRUN_BUILD_UNRESOLVED" : "FNRUN_BUILD_SYNTAX", `${where}: ${first.text}${more}`, {
    file,
    line,
    column,
    fix,
    cause: err,
  });
}

/** Relative to the working directory when inside it, so messages read `functions/x/index.ts:3:7`. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}
